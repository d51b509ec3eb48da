// The isolation soak (soak/isolation.ts) at a size that fits CI: 50 look-alike clinics (the same
// patient IDs in every clinic, names that differ), a signed-in browser each, thousands of
// interleaved patient page requests through a real listening server, directly and then through a
// real PgBouncer in transaction mode. Not one response may name another clinic's data, none may
// fail, and every page served must be in its clinic's audit trail. `npm run soak` runs it bigger.
//
// SOAK_SEED=<seed> replays a run's choices (the seed is printed); SOAK_REQUESTS sets the size.
import t, { type Test } from 'tap';
import { auditedViews } from '../../soak/clinics.ts';
import { startBouncedApp, startSoakApp, type SoakApp } from '../../soak/app.ts';
import { lostAuditEvents, runIsolationSoak } from '../../soak/isolation.ts';
import { chooseSeed } from '../../soak/random.ts';
import { formatIsolation } from '../../soak/summary.ts';
import { registerIsolationRoutes } from '../helpers/isolation.ts';
import { pgbouncerAvailable } from '../helpers/pgbouncer.ts';

const CLINICS = 50;
const REQUESTS = Number(process.env.SOAK_REQUESTS ?? 5000);
const seed = chooseSeed(process.env.SOAK_SEED);

t.test(`${CLINICS} look-alike clinics, ${REQUESTS} signed-in requests a path (SOAK_SEED=${seed})`, async (t) => {
  const direct = await startSoakApp(t, { clinics: CLINICS, prefix: 'iso', extend: registerIsolationRoutes });
  const slugs = direct.clinics.map((c) => c.slug);

  const soak = async (t: Test, name: string, app: SoakApp, requests: number) => {
    const before = await auditedViews(direct.runtime, slugs);
    const report = await runIsolationSoak({ address: app.address, clinics: app.clinics, requests, connections: 64, seed, timeoutMs: 10_000 });
    const lost = lostAuditEvents(report.servedBy, before, await auditedViews(direct.runtime, slugs));
    t.comment(formatIsolation(name, report, lost));
    for (const sample of report.samples) t.comment(`  ${sample}`);
    t.equal(report.requests, requests, `${name}: every request answered`);
    t.equal(report.foreignRows, 0, `${name}: zero responses with another clinic's data`);
    t.same(report.errors, {}, `${name}: zero errors (no 5xx, no hang, each page its clinic's own patient, each stray cookie refused)`);
    t.ok(report.served > requests * 0.9, `${name}: patient pages served (${report.served})`);
    t.equal(lost, 0, `${name}: every page served is in its clinic's audit trail`);
  };

  await t.test('directly', async (t) => soak(t, 'direct', direct, REQUESTS));
  await t.test('through PgBouncer in transaction mode', { skip: pgbouncerAvailable() ? false : 'pgbouncer is not installed (.ci/run installs it)' }, async (t) => {
    await soak(t, 'through PgBouncer', await startBouncedApp(t, direct, { poolSize: 5 }), Math.ceil(REQUESTS / 2));
  });

  // The detector works through the real server: a session-level SET search_path (the classic
  // leak, test/helpers/isolation.ts) shows other clinics' rows under the same load.
  const broken = await runIsolationSoak({
    address: direct.address,
    clinics: direct.clinics,
    requests: 400,
    connections: 32,
    seed,
    timeoutMs: 10_000,
    crossHostShare: 0,
    path: () => '/test/broken-patients',
  });
  t.ok(broken.foreignRows > 0, `a session-level SET search_path is caught (${broken.foreignRows} of ${broken.requests} responses had foreign rows)`);
});
