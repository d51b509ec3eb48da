// Readiness with two regions, one of which stops taking connections: the public /readyz (any host)
// goes red with a status and nothing else (no region names for the internet), while the operators'
// route (regionStatusRoutes, registered alone on a bare Fastify as server.ts's metrics listener
// does) names each region, whether it answers and since when it has not, and the metrics gauge
// says the same per region. Both go green again once the region answers.
import Fastify from 'fastify';
import pg from 'pg';
import t from 'tap';
import { regionStatusRoutes } from '../../src/infra/health.ts';
import { buildTestApp } from '../helpers/app.ts';
import { createTestDatabase, testServerUrl } from '../helpers/db.ts';

t.test('public readiness says ready or not; the ops listener says which region and since when', async (t) => {
  const regionUrl = await createTestDatabase(t, 'sctregion');
  const regionDb = new URL(regionUrl).pathname.slice(1);
  const { app, runtime } = await buildTestApp(t, { env: { SIDECHART_REGIONS: `eu-west=${regionUrl}` } });
  const ops = Fastify({ logger: false });
  await ops.register(regionStatusRoutes, { databases: runtime.databases });
  t.teardown(() => ops.close());
  const publicReady = (host: string) => app.inject({ url: '/readyz', headers: { host } });
  const opsStatus = async () => {
    const res = await ops.inject({ url: '/readyz/regions' });
    return { status: res.statusCode, body: res.json() as { status: string; regions: { region: string; ok: boolean; downSince: string | null }[] } };
  };
  const gauge = async () => (await app.metrics.metrics()).split('\n').filter((line) => line.startsWith('sidechart_region_up{')).sort();

  for (const host of ['127.0.0.1', 'acme.localhost', 'example.com']) {
    const ready = await publicReady(host);
    t.equal(ready.statusCode, 200, `ready on ${host}`);
    t.same(ready.json(), { status: 'ready' }, 'the status and nothing else');
  }
  t.same(await opsStatus(), { status: 200, body: { status: 'ready', regions: [{ region: 'local', ok: true, downSince: null }, { region: 'eu-west', ok: true, downSince: null }] } });
  t.same(await gauge(), ['sidechart_region_up{region="eu-west"} 1', 'sidechart_region_up{region="local"} 1']);

  // The region's database stops taking connections, and its open ones are ended.
  const admin = new pg.Client({ connectionString: testServerUrl() });
  await admin.connect();
  t.teardown(async () => {
    await admin.query(`alter database ${regionDb} with allow_connections true`);
    await admin.end();
  });
  await admin.query(`alter database ${regionDb} with allow_connections false`);
  await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [regionDb]);

  const red = await publicReady('127.0.0.1');
  t.equal(red.statusCode, 503, 'red while a region is down');
  t.same(red.json(), { status: 'unavailable' });
  t.notMatch(red.body, /eu-west|local|region/, 'no region named on the public listener');

  const down = await opsStatus();
  t.equal(down.status, 503);
  t.match(down.body.regions, [{ region: 'local', ok: true, downSince: null }, { region: 'eu-west', ok: false, downSince: /^\d{4}-\d\d-\d\dT/ }], 'the region that is down, and since when');
  const firstSeenDown = down.body.regions[1]?.downSince;
  t.ok(Date.parse(firstSeenDown ?? '') <= Date.now(), 'a time in the past');
  t.equal((await opsStatus()).body.regions[1]?.downSince, firstSeenDown, 'still down: the same "since", not the time of this check');
  t.same(await gauge(), ['sidechart_region_up{region="eu-west"} 0', 'sidechart_region_up{region="local"} 1']);

  await admin.query(`alter database ${regionDb} with allow_connections true`);
  t.equal((await publicReady('127.0.0.1')).statusCode, 200, 'green again once the region answers');
  t.same((await opsStatus()).body.regions[1], { region: 'eu-west', ok: true, downSince: null });
  t.same(await gauge(), ['sidechart_region_up{region="eu-west"} 1', 'sidechart_region_up{region="local"} 1']);
});
