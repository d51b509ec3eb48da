// The onRequest tenant resolution over HTTP: each outcome of the list, proxies, the cache.
import type { EventEmitter } from 'node:events';
import net from 'node:net';
import t from 'tap';
import { notifyTenantChanged } from '../../src/tenancy/directory.ts';
import { sql } from 'kysely';
import pg from 'pg';
import { buildTestApp, cli } from '../helpers/app.ts';

t.test('tenant resolution outcomes', async (t) => {
  const { app, runtime, env } = await buildTestApp(t, { env: { BASE_DOMAIN: 'example.com,localhost' } });
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await runtime.tenants.create({ slug: 'paused', displayName: 'Paused Clinic' });
  await runtime.tenants.suspend('paused');
  // A clinic caught half-built: only the control row exists.
  await runtime.databases.control
    .insertInto('control.tenants')
    .values({ id: '999', slug: 'building', display_name: 'Building', region_id: 'local', schema_name: 't_999', status: 'provisioning' })
    .execute();

  const get = (host: string | undefined, headers: Record<string, string> = {}) =>
    app.inject({ method: 'GET', url: '/', headers: { ...(host === undefined ? {} : { host }), ...headers } });

  const ok = await get('acme.example.com');
  t.equal(ok.statusCode, 200);
  t.match(ok.body, /Acme Physio/);
  t.match(ok.headers['content-type'], /text\/html/);

  const platform = await get('example.com');
  t.equal(platform.statusCode, 200);
  t.match(platform.body, /Sidechart for Cliniko/);
  t.notMatch(platform.body, /Acme/);
  t.equal((await get('www.example.com')).statusCode, 200);

  for (const bad of ['a.b.example.com', 'evil.com', '127.0.0.1:3000', '[::1]:3000', 'acme_x.example.com', 'acme.example.com.evil.com', 'xn--acm-bma.example.com']) {
    const res = await get(bad);
    t.equal(res.statusCode, 400, `${bad} -> 400`);
    t.notMatch(res.body, /Acme/);
  }

  const missing = await get('nobody.example.com');
  t.equal(missing.statusCode, 404);
  t.match(missing.body, /no clinic at this address/);

  const json = await get('nobody.example.com', { accept: 'application/json' });
  t.equal(json.statusCode, 404);
  t.equal(json.json().error, 'no_clinic');

  const suspended = await get('paused.example.com');
  t.equal(suspended.statusCode, 403);
  t.match(suspended.body, /suspended/);

  const provisioning = await get('building.example.com');
  t.equal(provisioning.statusCode, 503);
  t.equal(provisioning.headers['retry-after'], '5');

  const reserved = await get('auth.example.com');
  t.equal(reserved.statusCode, 404, 'a reserved host is never a clinic');

  // Health answers on any host, without tenant resolution.
  for (const host of ['127.0.0.1:3000', 'nobody.example.com', 'acme.example.com']) {
    t.equal((await app.inject({ url: '/healthz', headers: { host } })).statusCode, 200, `healthz on ${host}`);
    const ready = await app.inject({ url: '/readyz', headers: { host } });
    t.equal(ready.statusCode, 200);
    t.same(ready.json(), { status: 'ready' }, 'a status, no region names (those are on the ops listener)');
  }

  // Deleted through the CLI: the running app drops its cached entry at once (NOTIFY), no TTL wait.
  t.equal((await get('acme.example.com')).statusCode, 200, 'cached as active');
  let notified = invalidationOf(runtime.directory.events, 'acme');
  const deleted = await cli(env, ['tenants', 'delete', 'acme']);
  t.equal(deleted.code, 0, deleted.err);
  await notified;
  t.equal((await get('acme.example.com')).statusCode, 404, 'deleted clinic answers 404 after the CLI change');
  notified = invalidationOf(runtime.directory.events, 'acme');
  const restored = await cli(env, ['tenants', 'restore', 'acme']);
  t.equal(restored.code, 0, restored.err);
  await notified;
  t.equal((await get('acme.example.com')).statusCode, 403, 'restored clinic comes back suspended');
});

t.test('empty and missing Host over a real socket', async (t) => {
  const { address } = await buildTestApp(t, { listen: true });
  const { port } = new URL(address!);
  const raw = (request: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => socket.end(request));
      let data = '';
      socket.on('data', (chunk) => (data += chunk));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
  t.match(await raw('GET / HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 400/, 'empty Host -> 400');
  t.match(await raw('GET / HTTP/1.0\r\n\r\n'), /^HTTP\/1\.1 400/, 'missing Host (HTTP/1.0) -> 400');
  t.match(await raw('GET / HTTP/1.1\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 400/, 'missing Host (HTTP/1.1) -> 400');
  t.match(await raw('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200/, 'the platform host answers');
});

t.test('X-Forwarded-Host only from trusted proxies', async (t) => {
  const trusted = await buildTestApp(t, { env: { BASE_DOMAIN: 'example.com', TRUSTED_PROXIES: '127.0.0.1' } });
  await trusted.runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await trusted.runtime.tenants.create({ slug: 'other', displayName: 'Other Clinic' });

  // From the trusted proxy (inject's peer is 127.0.0.1) the forwarded host decides.
  const viaProxy = await trusted.app.inject({ url: '/', headers: { host: 'internal-lb:8080', 'x-forwarded-host': 'acme.example.com' } });
  t.equal(viaProxy.statusCode, 200);
  t.match(viaProxy.body, /Acme Physio/);

  // From an untrusted peer the header is ignored: the Host decides.
  const untrusted = await trusted.app.inject({
    url: '/',
    remoteAddress: '203.0.113.9',
    headers: { host: 'other.example.com', 'x-forwarded-host': 'acme.example.com' },
  });
  t.equal(untrusted.statusCode, 200);
  t.match(untrusted.body, /Other Clinic/);
  t.notMatch(untrusted.body, /Acme/);

  const untrustedBad = await trusted.app.inject({ url: '/', remoteAddress: '203.0.113.9', headers: { host: 'internal-lb:8080', 'x-forwarded-host': 'acme.example.com' } });
  t.equal(untrustedBad.statusCode, 400, 'untrusted peer cannot turn a junk host into a clinic');

  const noProxies = await buildTestApp(t, { env: { BASE_DOMAIN: 'example.com' } });
  await noProxies.runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  const ignored = await noProxies.app.inject({ url: '/', headers: { host: 'evil.com', 'x-forwarded-host': 'acme.example.com' } });
  t.equal(ignored.statusCode, 400, 'without TRUSTED_PROXIES even loopback cannot forward a host');
});

t.test('the common path costs no database round trip', async (t) => {
  const { app, runtime } = await buildTestApp(t, { env: { BASE_DOMAIN: 'example.com', TENANT_CACHE_TTL_MS: '3600000' } });
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme' });
  // The creation's NOTIFYs reach the listener asynchronously; one sent now arrives after them all
  // (one connection, in order), so once it is in, no late invalidation can empty the cache below.
  const barrier = new Promise<void>((resolve) => runtime.directory.events.on('invalidated', (slug) => slug === 'barrier' && resolve()));
  await notifyTenantChanged(runtime.databases.controlPool, 'barrier');
  await barrier;
  await app.inject({ url: '/', headers: { host: 'acme.example.com' } });
  const before = await runtime.databases.controlPool.query("select xact_commit from pg_stat_database where datname = current_database()");
  // Count directory queries directly: the directory's size stays, and lookups hit the cache.
  let queries = 0;
  runtime.databases.controlPool.on('acquire', () => queries++);
  for (let i = 0; i < 50; i++) t.equal((await app.inject({ url: '/', headers: { host: 'acme.example.com' } })).statusCode, 200);
  t.equal(queries, 0, 'fifty requests, no connection taken from the pool');
  t.ok(before.rows.length === 1);
});

t.test('database down: a clear 503, not a 500', async (t) => {
  const { app, runtime } = await buildTestApp(t, { env: { BASE_DOMAIN: 'example.com', TENANT_CACHE_TTL_MS: '0' } });
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme' });
  // Terminate every connection of this database and forbid new ones.
  const db = (await sql<{ db: string }>`select current_database() as db`.execute(runtime.databases.control)).rows[0]!.db;
  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await admin.connect();
  t.teardown(async () => {
    await admin.query(`alter database ${db} with allow_connections true`);
    await admin.end();
  });
  await admin.query(`alter database ${db} with allow_connections false`);
  await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [db]);
  const res = await app.inject({ url: '/', headers: { host: 'acme.example.com' } });
  t.equal(res.statusCode, 503);
  t.match(res.body, /cannot reach its database/);
  t.notMatch(res.body, /allow|terminat|pg_|stack/i);
  const ready = await app.inject({ url: '/readyz', headers: { host: 'example.com' } });
  t.equal(ready.statusCode, 503);
});

function invalidationOf(events: EventEmitter, slug: string): Promise<void> {
  return new Promise((resolve) => {
    const listener = (changed: string | undefined) => {
      if (changed === slug || changed === undefined) {
        events.off('invalidated', listener);
        resolve();
      }
    };
    events.on('invalidated', listener);
  });
}
