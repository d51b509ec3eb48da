// The session plugin alone (tenancy + sessions, a spy around the real store): which requests reach
// the store at all. Another clinic's cookie, platform and reserved hosts and anyHost routes never do.
import Fastify from 'fastify';
import t from 'tap';
import { sessionPlugin } from '../../../src/auth/session/plugin.ts';
import { createSessionStore, type SessionStore } from '../../../src/auth/session/store.ts';
import { registerErrorHandling } from '../../../src/infra/http.ts';
import { tenancyPlugin } from '../../../src/tenancy/plugin.ts';
import { buildTestApp } from '../../helpers/app.ts';

t.test('only requests on the clinic the cookie names touch the store', async (t) => {
  const { runtime, config } = await buildTestApp(t);
  const acme = await runtime.tenants.create({ slug: 'acme', displayName: 'Acme' });
  await runtime.tenants.create({ slug: 'other', displayName: 'Other' });

  const calls: string[] = [];
  const real = createSessionStore({ clinics: runtime.clinics });
  const spy: SessionStore = {
    get: (id, cb) => (calls.push(`get ${id.split('.').slice(0, 2).join('.')}`), real.get(id, cb)),
    set: (id, session, cb) => (calls.push(`set ${id.split('.').slice(0, 2).join('.')}`), real.set(id, session, cb)),
    destroy: (id, cb) => (calls.push(`destroy ${id.split('.').slice(0, 2).join('.')}`), real.destroy(id, cb)),
  };

  const app = Fastify({ logger: false });
  registerErrorHandling(app);
  await app.register(tenancyPlugin, { baseDomains: config.baseDomains, clinics: runtime.clinics });
  await app.register(sessionPlugin, { config, secret: 'a-test-secret-of-at-least-32-characters', clinics: runtime.clinics, store: spy });
  app.get('/start', async (request) => {
    request.session.oidc = { state: 'somewhere' };
    return { user: request.user };
  });
  app.get('/peek', async (request) => ({ oidc: request.session.oidc ?? null }));
  app.get('/health', { config: { anyHost: true } }, async (request) => ({ oidc: request.session.oidc ?? null }));
  t.teardown(() => app.close());

  const started = await app.inject({ url: '/start', headers: { host: 'acme.localhost' } });
  t.equal(started.statusCode, 200);
  const cookie = started.cookies.find((c) => c.name === 'sidechart')!;
  t.ok(cookie);
  const region = acme.regionId;
  t.same(calls, [`set ${region}.${acme.schemaName}`], 'one write, into the clinic that started it');
  calls.length = 0;

  const withCookie = (host: string, url = '/peek') => app.inject({ url, headers: { host, cookie: `sidechart=${cookie.value}` } });
  t.same((await withCookie('acme.localhost')).json(), { oidc: { state: 'somewhere' } });
  t.same(calls, [`get ${region}.${acme.schemaName}`], 'its own clinic reads it');
  calls.length = 0;

  for (const [host, url] of [['other.localhost', '/peek'], ['localhost', '/peek'], ['www.localhost', '/peek'], ['auth.localhost', '/peek'], ['acme.localhost', '/health'], ['127.0.0.1', '/health']] as const) {
    const res = await withCookie(host, url);
    t.not(res.statusCode, 500, `${host}${url}`);
    if (res.statusCode === 200) t.same(res.json(), { oidc: null }, `${host}${url}: no session data`);
    t.same(res.headers['set-cookie'], undefined, `${host}${url}: the cookie is left alone`);
  }
  t.same(calls, [], 'no other host or anyHost route reached the store');

  // Nothing is stored for a request that does not change the session.
  await app.inject({ url: '/peek', headers: { host: 'acme.localhost' } });
  t.same(calls, []);
});
