// Abuse guards of sign-up: the CSRF token (made for "a visitor of this platform host", csrf.ts)
// and Sec-Fetch-Site, and the per-address rate limit on submissions.
import t from 'tap';
import { csrfTokenIn } from '../helpers/fixtures.ts';
import { FORM, browser, startSignupApp, submitSignup } from './helpers.ts';

t.test('CSRF: missing, wrong, from another browser, without the cookie, or cross-site', async (t) => {
  const { runtime, platform, origin } = await startSignupApp(t);
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  const http = browser(t);
  const token = csrfTokenIn(await http.get(`${platform}/signup`));
  const other = browser(t);
  const otherToken = csrfTokenIn(await other.get(`${platform}/signup`));
  // A token made on a clinic's host (for an anonymous visitor of that clinic) is not good here.
  const clinicToken = csrfTokenIn(await http.get(`${origin('acme')}/login`));

  const refused: [string, Record<string, string>, Record<string, string>, RegExp][] = [
    ['no token', FORM, {}, /missing its security token/],
    ['empty token', { ...FORM, _csrf: '' }, {}, /missing its security token/],
    ['made-up token', { ...FORM, _csrf: 'abc-123' }, {}, /Invalid csrf token/i],
    ["another browser's token", { ...FORM, _csrf: otherToken }, {}, /Invalid csrf token/i],
    ["a clinic host's token", { ...FORM, _csrf: clinicToken }, {}, /Invalid csrf token/i],
    ['cross-site', { ...FORM, _csrf: token }, { 'sec-fetch-site': 'cross-site' }, /another site/],
    ['from a clinic host (same-site)', { ...FORM, _csrf: token }, { 'sec-fetch-site': 'same-site' }, /another site/],
  ];
  for (const [what, body, headers, message] of refused) {
    const res = await http.post(`${platform}/signup`, body, { headers });
    t.equal(res.status, 403, what);
    t.match(res.body, message, what);
  }
  const stranger = browser(t);
  const noCookie = await stranger.post(`${platform}/signup`, { ...FORM, _csrf: token });
  t.equal(noCookie.status, 403);
  t.match(noCookie.body, /This form has expired/);
  t.same((await runtime.tenants.list()).map((x) => x.slug), ['acme'], 'no clinic created by a refused POST');

  // A reserved host still has no forms at all.
  const reserved = await http.post(`http://auth.localhost:${new URL(platform).port}/signup`, { ...FORM, _csrf: token });
  t.equal(reserved.status, 403);
  t.match(reserved.body, /cannot be accepted at this address/);

  const ok = await http.post(`${platform}/signup`, { ...FORM, _csrf: token }, { headers: { 'sec-fetch-site': 'same-origin' } });
  t.equal(ok.status, 303, 'the real form is accepted');
});

t.test('rate limit: 429 with Retry-After past the limit from one address; the form still shows', async (t) => {
  const { runtime, platform } = await startSignupApp(t, { RATE_LIMIT_SIGN_UP_PER_HOUR: '3' });
  const http = browser(t);
  for (let i = 0; i < 3; i++) {
    const res = await submitSignup(http, platform, { ...FORM, slug: `bad_${i}` });
    t.equal(res.status, 400, `attempt ${i + 1} is answered`);
  }
  const limited = await submitSignup(http, platform, FORM);
  t.equal(limited.status, 429);
  t.match(limited.body, /Too many requests from your address/);
  const retryAfter = Number(limited.header('retry-after'));
  t.ok(retryAfter > 60 && retryAfter <= 3600, `Retry-After within the hour (${retryAfter} s)`);
  t.equal((await http.get(`${platform}/signup`)).status, 200, 'showing the form is not limited');
  t.same(await runtime.tenants.list(), [], 'the limited request created nothing');
});
