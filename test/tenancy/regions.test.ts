// Regions that really are separate (issue 12): two regions on two PostgreSQL servers (the
// machine's, which also holds the control plane, and an embedded one), an instance serving each.
// A clinic's requests are served by its own region's instance whichever one they reach: the other
// forwards them (tenancy/forward.ts) and never touches the clinic's database (its pool to that
// region is never checked out). Stopping one region's server darkens only that region's clinics:
// the other region's instance stays ready and keeps serving; an instance of the down region says
// so with a 503 and Retry-After, and comes back without a restart.
import t from 'tap';
import type pg from 'pg';
import { buildTestApp, type TestApp } from '../helpers/app.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { addUser, client, registerEchoRoutes, signInWithPassword, TEST_AUTH_ENV } from '../helpers/fixtures.ts';
import { freePort } from '../helpers/net.ts';
import { startRegionServer } from '../helpers/region-server.ts';
import { generateKeySpec } from '../../src/infra/crypto.ts';
import { FORWARDED_BY_HEADER } from '../../src/tenancy/forward.ts';

/** Counts check-outs of a pool: a region's data is touched only through one. */
function checkouts(pool: pg.Pool): { readonly count: number } {
  const counter = { count: 0 };
  pool.on('acquire', () => counter.count++);
  return counter;
}

t.test('each region serves its own clinics; one region down darkens only its clinics', async (t) => {
  const controlUrl = await createTestDatabase(t);
  const eu = await startRegionServer(t);
  const [portLocal, portEu] = [await freePort(), await freePort()];
  const shared = {
    ...TEST_AUTH_ENV,
    DATABASE_URL: controlUrl,
    SIDECHART_REGIONS: `eu=${eu.url}`,
    SESSION_SECRET: 'regions-test-session-secret-'.padEnd(48, 'r'),
    SIDECHART_ENCRYPTION_KEYS: generateKeySpec('r1'),
    DB_CONNECTION_TIMEOUT_MS: '1000',
  };
  const start = (region: string, port: number, forward: string): Promise<TestApp> =>
    buildTestApp(t, { listen: true, extend: registerEchoRoutes, env: { ...shared, REGION: region, PORT: String(port), PUBLIC_PORT: String(port), REGION_FORWARD_URLS: forward } });
  const local = await start('local', portLocal, `eu=http://127.0.0.1:${portEu}`);
  const euApp = await start('eu', portEu, `local=http://127.0.0.1:${portLocal}`);

  await local.runtime.tenants.create({ slug: 'leeds', displayName: 'Leeds Physio', regionId: 'local' });
  await local.runtime.tenants.create({ slug: 'lyon', displayName: 'Lyon Kiné', regionId: 'eu' });
  await addUser(local.runtime, 'leeds', { email: 'lee@leeds.example', name: 'Lee' });
  await addUser(local.runtime, 'lyon', { email: 'lou@lyon.example', name: 'Lou' });
  const euTouchedByLocal = checkouts(local.runtime.databases.regions.get('eu')!.pool);

  const origin = (slug: string, port: number) => `http://${slug}.localhost:${port}`;
  const whoami = async (http: ReturnType<typeof client>, slug: string, port: number) => {
    const res = await http.get(`${origin(slug, port)}/__test/whoami`, { headers: { accept: 'application/json' } });
    return { status: res.status, email: res.status === 200 ? (res.json() as { user: { email: string } }).user.email : null, res };
  };

  await t.test('a clinic of the other region is served there, through either instance', async (t) => {
    const viaLocal = client({}, t);
    const signedIn = await signInWithPassword(viaLocal, origin('lyon', portLocal), 'lou@lyon.example');
    t.equal(signedIn.status, 303, 'the sign-in form (a POST with a body) reached the eu instance and signed in there');
    t.match(await whoami(viaLocal, 'lyon', portLocal), { status: 200, email: 'lou@lyon.example' });
    const viaEu = client({}, t);
    t.equal((await signInWithPassword(viaEu, origin('lyon', portEu), 'lou@lyon.example')).status, 303);
    t.match(await whoami(viaEu, 'lyon', portEu), { status: 200, email: 'lou@lyon.example' }, 'and directly');
    const leeds = client({}, t);
    t.equal((await signInWithPassword(leeds, origin('leeds', portEu), 'lee@leeds.example')).status, 303, 'the other way round too');
    t.match(await whoami(leeds, 'leeds', portEu), { status: 200, email: 'lee@leeds.example' });
    t.equal(euTouchedByLocal.count, 0, 'the local instance never checked out a connection to the eu database while serving');
  });

  await t.test('a request already forwarded once is never forwarded again: a clear 421 page', async (t) => {
    const http = client({}, t);
    const res = await http.get(`${origin('lyon', portLocal)}/login`, { headers: { [FORWARDED_BY_HEADER]: 'eu' } });
    t.equal(res.status, 421);
    t.match(res.body, /served from another region/);
    t.notMatch(res.body, /at .*\.ts:\d+/, 'no stack');
  });

  await t.test('the eu region goes down: only its clinics are dark, and they come back without a restart', async (t) => {
    const leeds = client({}, t);
    t.equal((await signInWithPassword(leeds, origin('leeds', portLocal), 'lee@leeds.example')).status, 303);
    await eu.stop();
    const readyz = async (port: number) => (await client({}, t).get(`http://127.0.0.1:${port}/readyz`)).status;
    t.equal(await readyz(portLocal), 200, 'the local instance stays in its load balancer');
    t.equal(await readyz(portEu), 503, 'the eu instance leaves its own');
    const lyon = await client({}, t).get(`${origin('lyon', portLocal)}/login`);
    t.equal(lyon.status, 503, 'a clinic of the down region: 503');
    t.ok(lyon.headers['retry-after'], 'with Retry-After');
    t.match(await whoami(leeds, 'leeds', portLocal), { status: 200, email: 'lee@leeds.example' }, 'every other clinic keeps working');
    t.match(await whoami(leeds, 'leeds', portEu), { status: 200 }, 'even through the eu instance (forwarded)');

    // A development instance serving every region boots while eu is down (it waits for nobody).
    const all = await buildTestApp(t, { extend: registerEchoRoutes, env: { ...shared, REGION: 'all' } });
    t.equal((await all.app.inject({ url: '/login', headers: { host: 'leeds.localhost' } })).statusCode, 200, 'serving every region: leeds works');
    t.equal((await all.app.inject({ url: '/login', headers: { host: 'lyon.localhost' } })).statusCode, 503, 'lyon is dark');

    await eu.start();
    t.equal(await readyz(portEu), 200, 'eu ready again');
    const back = client({}, t);
    t.equal((await signInWithPassword(back, origin('lyon', portLocal), 'lou@lyon.example')).status, 303, 'its clinics are served again');
  });

  await t.test('the other region\'s instances not answering: a clear 503 page, not a hang', async (t) => {
    await euApp.app.close();
    const res = await client({}, t).get(`${origin('lyon', portLocal)}/login`);
    t.equal(res.status, 503);
    t.match(res.body, /region is not answering/);
    t.ok(res.headers['retry-after']);
  });
});
