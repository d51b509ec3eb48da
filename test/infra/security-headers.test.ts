// The security headers (src/infra/security-headers.ts) on every kind of answer: a page, a redirect,
// a bad host, an unknown clinic, a missing route, a refused POST. Computed once by helmet; a
// response without them would be a page that can be framed or sniffed. (Issue 10, finding 6:
// X-Frame-Options said SAMEORIGIN beside frame-ancestors 'none', and no Permissions-Policy.)
import t from 'tap';
import { securityHeaderSet } from '../../src/infra/security-headers.ts';
import { buildTestApp } from '../helpers/app.ts';

const CSP = "default-src 'self';script-src 'self';style-src 'self';img-src 'self' data:;form-action 'self';frame-ancestors 'none';base-uri 'none';object-src 'none'";

t.test('helmet computes the set once from the policy', async (t) => {
  const headers = securityHeaderSet({ contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'self'"] } }, strictTransportSecurity: false });
  t.equal(headers['content-security-policy'], "default-src 'self'");
  t.equal(headers['x-content-type-options'], 'nosniff');
  t.notOk('strict-transport-security' in headers, 'HSTS only when asked');
  t.throws(() => securityHeaderSet({ contentSecurityPolicy: { directives: { defaultSrc: ['self'] } } }), /self/, 'a policy helmet refuses stops the boot');
});

t.test('every answer carries them, whatever happened', async (t) => {
  const { app, runtime } = await buildTestApp(t);
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme' });
  const cases: Array<[string, { method?: 'GET' | 'POST'; url: string; host: string }, number]> = [
    ['a page', { url: '/login', host: 'acme.localhost' }, 200],
    ['the sign-in redirect', { url: '/patients?patient_id=1', host: 'acme.localhost' }, 303],
    ['a bad patient ID', { url: '/patients?patient_id=x', host: 'acme.localhost' }, 400],
    ['a malformed host', { url: '/', host: 'bad_host.localhost' }, 400],
    ['an unknown clinic', { url: '/', host: 'nobody.localhost' }, 404],
    ['a missing route', { url: '/no/such/page', host: 'acme.localhost' }, 404],
    ['a POST without a CSRF token', { method: 'POST', url: '/logout', host: 'acme.localhost' }, 403],
    ['the platform host', { url: '/', host: 'localhost' }, 200],
  ];
  for (const [what, request, status] of cases) {
    const res = await app.inject({ method: request.method ?? 'GET', url: request.url, headers: { host: request.host } });
    t.equal(res.statusCode, status, `${what}: ${status}`);
    t.equal(res.headers['content-security-policy'], CSP, `${what}: CSP`);
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${what}: nosniff`);
    t.equal(res.headers['referrer-policy'], 'no-referrer', `${what}: referrer policy`);
    t.equal(res.headers['cross-origin-opener-policy'], 'same-origin', `${what}: COOP`);
    t.equal(res.headers['x-frame-options'], 'DENY', `${what}: X-Frame-Options agrees with frame-ancestors 'none'`);
    t.match(res.headers['permissions-policy'], /(^|, )camera=\(\)/, `${what}: Permissions-Policy`);
  }
});
