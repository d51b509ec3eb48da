// The in-process session cache (src/auth/session/cache.ts): alone (bounds, trust, races), between
// two instances sharing the databases (every change heard by the other at once, awaited as an
// event), with a moved clock (timeouts judged on cached sessions), and with its LISTEN connection
// killed (back to the database).
import { once } from 'node:events';
import Fastify from 'fastify';
import pg from 'pg';
import t from 'tap';
import { createSessionCache, sessionKey, type CachedSession, type SessionCache } from '../../../src/auth/session/cache.ts';
import { sessionPlugin } from '../../../src/auth/session/plugin.ts';
import { signIn } from '../../../src/auth/session/sign-in.ts';
import { updateAuthSettings } from '../../../src/auth/settings.ts';
import { registerErrorHandling } from '../../../src/infra/http.ts';
import { tenancyPlugin } from '../../../src/tenancy/plugin.ts';
import type { Runtime } from '../../../src/runtime.ts';
import { buildTestApp, cli } from '../../helpers/app.ts';
import {
  PASSWORD, addUser, authChangesSettled, client, sessionCookie, sessionIdOf, signInWithPassword, startAuthApp, tenantDb,
} from '../../helpers/fixtures.ts';

const here = { regionId: 'local', schemaName: 't_1' };
const session = (userId: string | null, expiresInMs = 60_000): CachedSession => ({
  json: JSON.stringify({ userId }),
  user: userId === null ? null : { id: userId, email: `${userId}@x.example`, name: '', role: 'staff', disabled: false, idle_timeout_minutes: 30, absolute_timeout_minutes: 480 },
  expiresAtMs: Date.now() + expiresInMs,
});

t.test('the cache alone: bounded, trusted only while its region is heard, never refilled by a racing read', async (t) => {
  const cache = createSessionCache({ max: 5, ttlMs: 60_000 });
  cache.fill('a', here, session('1'), cache.begin());
  t.equal(cache.get('a', here), undefined, 'nothing is held for a region whose changes are not heard');

  cache.connected('local');
  for (let i = 0; i < 50; i++) cache.fill(`id-${i}`, here, session(String(i)), cache.begin());
  t.equal(cache.size, 5, 'fifty sessions, five held: the least recently used went');
  t.ok(cache.get('id-49', here), 'the newest is held');
  t.equal(cache.get('id-0', here), undefined, 'the oldest is gone');
  t.equal(cache.get('id-49', { regionId: 'local', schemaName: 't_2' }), undefined, 'an ID is only good in the clinic it names');

  const started = cache.begin();
  cache.apply('local', 't_1 u 999');
  cache.fill('late', here, session('3'), started);
  t.equal(cache.get('late', here), undefined, 'a read that began before a change does not fill the cache');

  cache.fill('expiring', here, session('4', -1), cache.begin());
  t.equal(cache.get('expiring', here), undefined, 'a row past its expiry is not served');

  cache.fill('s1', here, session('10'), cache.begin());
  cache.fill('s2', here, session('11'), cache.begin());
  cache.apply('local', `t_1 s ${sessionKey('s1')}`);
  t.equal(cache.get('s1', here), undefined, 'a session named by its hash is dropped');
  t.ok(cache.get('s2', here), 'the others stay');
  cache.apply('local', 't_1 u 11,12');
  t.equal(cache.get('s2', here), undefined, "a user's change drops the user's sessions");

  const other = { regionId: 'local', schemaName: 't_9' };
  cache.fill('x', here, session('20'), cache.begin());
  cache.fill('y', other, session('20'), cache.begin());
  cache.apply('eu', 't_1 *');
  t.ok(cache.get('x', here), "another region's notification does not touch this region's clinic of the same schema name");
  cache.apply('local', 't_1 *');
  t.equal(cache.get('x', here), undefined, 'the whole clinic is dropped');
  t.ok(cache.get('y', other), 'another clinic is not');

  cache.lost('local');
  t.equal(cache.get('y', other), undefined, 'connection lost: nothing is served from memory');
  cache.fill('y', other, session('20'), cache.begin());
  t.equal(cache.size, 0, 'and nothing is stored until it is back');
  cache.connected('local');
  cache.fill('y', other, session('20'), cache.begin());
  t.ok(cache.get('y', other), 'back: cached again');

  const off = createSessionCache({ max: 5, ttlMs: 0 });
  off.connected('local');
  off.fill('a', here, session('1'), off.begin());
  t.equal(off.get('a', here), undefined, 'SESSION_CACHE_TTL_MS=0 turns it off');
});

/** Resolves when the cache applies a notification that matches (an event: no sleeping). */
function heard(cache: SessionCache, match: (reason: string) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const listener = (reason: string) => {
      if (!match(reason)) return;
      cache.events.off('dropped', listener);
      resolve();
    };
    cache.events.on('dropped', listener);
  });
}

function isCached(runtime: Runtime, cookieValue: string): boolean {
  const id = sessionIdOf(cookieValue);
  const [regionId, schemaName] = id.split('.');
  return runtime.sessionCache.get(id, { regionId: regionId!, schemaName: schemaName! }) !== undefined;
}

t.test('two instances: a session made on A works on B, and every change made anywhere reaches B at once', async (t) => {
  const a = await startAuthApp(t);
  const b = await startAuthApp(t, { env: a.env });
  const acme = await a.runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  const jo = await addUser(a.runtime, 'acme', { email: 'jo@acme.example', name: 'Jo' });
  const onA = a.origin('acme');
  const onB = b.origin('acme');
  const signedIn = async () => {
    const http = client({}, t);
    t.equal((await signInWithPassword(http, onA, 'jo@acme.example')).status, 303, 'signed in on A');
    // The sign-in's own changes (the pre-login record destroyed) heard first: a read racing a
    // notification is deliberately not cached, and this test wants to see it cached.
    await authChangesSettled(b.runtime);
    const res = await http.get(`${onB}/__test/whoami`);
    t.equal(res.status, 200, 'the same session works on B');
    t.ok(isCached(b.runtime, sessionCookie(http, 'acme.localhost')!), 'and B holds it in memory');
    return http;
  };

  // Sign-out on A.
  const first = await signedIn();
  const firstId = sessionIdOf(sessionCookie(first, 'acme.localhost')!);
  const token = ((await first.get(`${onA}/__test/csrf`)).json() as { token: string }).token;
  const signOutHeard = heard(b.runtime.sessionCache, (reason) => reason.includes(sessionKey(firstId)));
  t.equal((await first.post(`${onA}/logout`, { _csrf: token })).status, 303, 'signed out on A');
  await signOutHeard;
  t.equal((await first.get(`${onB}/__test/whoami`)).status, 303, 'B refuses the signed-out session');

  // A user disabled by an operator (the CLI: another process).
  const second = await signedIn();
  const disableHeard = heard(b.runtime.sessionCache, (reason) => reason.endsWith(` u ${jo.id}`) || reason.includes(` u ${jo.id},`) || reason.includes(`,${jo.id}`));
  t.equal((await cli(a.env, ['users', 'disable', 'acme', 'jo@acme.example'])).code, 0);
  await disableHeard;
  t.equal((await second.get(`${onB}/__test/whoami`)).status, 303, 'B refuses the disabled user');
  t.equal((await cli(a.env, ['users', 'enable', 'acme', 'jo@acme.example'])).code, 0);

  // A new password.
  const third = await signedIn();
  const thirdId = sessionIdOf(sessionCookie(third, 'acme.localhost')!);
  const passwordHeard = heard(b.runtime.sessionCache, (reason) => reason.includes(sessionKey(thirdId)));
  t.equal((await cli(a.env, ['users', 'set-password', 'acme', 'jo@acme.example', '--password-stdin'], { stdin: `${PASSWORD}-new\n` })).code, 0);
  await passwordHeard;
  t.equal((await third.get(`${onB}/__test/whoami`)).status, 303, 'B refuses a session from before the password change');

  // A new role, straight in the database (an admin page, an SRE): B sees it on the next request.
  const fourth = client({}, t);
  t.equal((await signInWithPassword(fourth, onA, 'jo@acme.example', `${PASSWORD}-new`)).status, 303);
  t.equal(((await fourth.get(`${onB}/__test/whoami`)).json() as { user: { role: string } }).user.role, 'staff');
  const roleHeard = heard(b.runtime.sessionCache, (reason) => reason.includes(` u ${jo.id}`));
  await (await tenantDb(a.runtime, 'acme')).updateTable('users').set({ role: 'admin' }).where('id', '=', jo.id).execute();
  await roleHeard;
  t.equal(((await fourth.get(`${onB}/__test/whoami`)).json() as { user: { role: string } }).user.role, 'admin', 'B serves the new role');

  // The clinic suspended: the directory's own notification, before any session is looked at.
  t.ok(isCached(b.runtime, sessionCookie(fourth, 'acme.localhost')!), 'the session is held on B');
  const suspended = once(b.runtime.directory.events, 'invalidated');
  t.equal((await cli(a.env, ['tenants', 'suspend', 'acme'])).code, 0);
  await suspended;
  const refused = await fourth.get(`${onB}/__test/whoami`);
  t.equal(refused.status, 403, 'B refuses every request for the suspended clinic');
  t.match(refused.body, /suspended/);
  t.equal(acme.slug, 'acme');
});

t.test('timeouts are judged on cached sessions: idle and absolute limits hold exactly', async (t) => {
  const { runtime, config } = await buildTestApp(t, { env: { PASSWORD_HASH_MEMORY_KIB: '64' } });
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme' });
  const jo = await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  await updateAuthSettings(await tenantDb(runtime, 'acme'), { idleTimeoutMinutes: 30, absoluteTimeoutMinutes: 60 });
  let clock = Date.now();
  const minutes = (n: number) => n * 60_000;

  const app = Fastify({ logger: false });
  registerErrorHandling(app);
  await app.register(tenancyPlugin, { baseDomains: config.baseDomains, clinics: runtime.clinics });
  await app.register(sessionPlugin, { config, secret: runtime.secrets.sessionSecret, clinics: runtime.clinics, cache: runtime.sessionCache, now: () => clock });
  app.get('/signin', async (request, reply) => signIn(request, reply, { id: jo.id }));
  app.get('/me', async (request) => ({ user: request.user?.email ?? null }));
  t.teardown(() => app.close());

  const start = async () => {
    const res = await app.inject({ url: '/signin', headers: { host: 'acme.localhost' } });
    await authChangesSettled(runtime);
    const cookie = res.cookies.find((c) => c.name === 'sidechart')!.value;
    return { cookie, me: () => app.inject({ url: '/me', headers: { host: 'acme.localhost', cookie: `sidechart=${cookie}` } }).then((r) => (r.json() as { user: string | null }).user) };
  };

  const idle = await start();
  t.equal(await idle.me(), 'jo@acme.example', 'signed in');
  t.ok(isCached(runtime, decodeURIComponent(idle.cookie)), 'held in memory after one request');
  clock += minutes(29) + 59_000;
  t.ok(isCached(runtime, decodeURIComponent(idle.cookie)), 'still held');
  clock += 2_000;
  t.equal(await idle.me(), null, '30 minutes idle: refused although the session was in memory');

  clock = Date.now();
  const absolute = await start();
  for (const at of [25, 50]) {
    clock = Date.now() + minutes(at);
    t.equal(await absolute.me(), 'jo@acme.example', `${at} minutes after sign-in: signed in (last seen written back)`);
    await authChangesSettled(runtime); // that write's own notification, before the cache is filled again
    t.equal(await absolute.me(), 'jo@acme.example');
  }
  t.ok(isCached(runtime, decodeURIComponent(absolute.cookie)), 'held in memory');
  clock = Date.now() + minutes(60) + 1_000;
  t.equal(await absolute.me(), null, '60 minutes after sign-in, 10 idle: refused by the absolute limit');
});

t.test('the LISTEN connection lost: the instance reads sessions from the database until it is back', async (t) => {
  const a = await startAuthApp(t);
  await a.runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  const jo = await addUser(a.runtime, 'acme', { email: 'jo@acme.example', name: 'Jo' });
  const acme = a.origin('acme');
  const http = client({}, t);
  t.equal((await signInWithPassword(http, acme, 'jo@acme.example')).status, 303);
  await authChangesSettled(a.runtime);
  const name = async () => ((await http.get(`${acme}/__test/whoami`)).json() as { user: { name: string } | null }).user?.name ?? null;
  t.equal(await name(), 'Jo');

  const admin = new pg.Client({ connectionString: a.env.DATABASE_URL });
  await admin.connect();
  t.teardown(() => admin.end());
  const schema = (await a.runtime.tenants.find('acme')).schemaName;
  /** A change the triggers do not announce (replica mode skips them): what a lost notification looks like. */
  const silently = async (statement: string) => {
    await admin.query('begin');
    await admin.query('set local session_replication_role = replica');
    await admin.query(statement.replaceAll('$schema', `"${schema}"`), [jo.id]);
    await admin.query('commit');
  };

  await silently('update $schema.users set name = \'Jo Renamed\' where id = $1');
  t.equal(await name(), 'Jo', 'unannounced, a change is not seen while the session is in memory: this is what the triggers are for');

  const lost = heard(a.runtime.sessionCache, (reason) => reason === 'local lost');
  const killed = await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'sidechart-session-listener' and datname = current_database()");
  t.ok(killed.rowCount! >= 1, 'the listener connection was killed');
  await lost;
  const back = heard(a.runtime.sessionCache, (reason) => reason === 'local connected');
  t.equal(await name(), 'Jo Renamed', 'with the connection lost, sessions are read from the database');
  await silently('update $schema.users set disabled = true where id = $1');
  t.equal((await http.get(`${acme}/__test/whoami`)).status, 303, 'and a disabled user is refused at once');

  await back;
  t.ok(a.runtime.sessionCache.isTrusted('local'), 'the listener reconnected by itself');
  t.equal(a.runtime.sessionCache.size, 0, 'and the cache starts empty (notifications may have been missed)');
});
