// `npm run soak [-- options]`: the isolation soak and the hostile-input fuzz at sizes past what
// `npm test` runs (test/soak/*.test.ts run the same code smaller). One app with look-alike clinics
// on a database of its own, listening on loopback; the soak runs against it directly and through a
// real PgBouncer in transaction mode (a second instance on the same database), then the fuzz runs.
// Prints a summary (requests, errors by kind, foreign rows, lost audit events, memory at start and
// end) and exits 1 when any property failed.
//
// Database: DATABASE_URL (a server where it may create and drop a database), else an embedded
// PostgreSQL under .data/soak-pg. PgBouncer: /usr/sbin/pgbouncer (.ci/run installs it), else that
// part is skipped with a note.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startEmbeddedPostgres } from '../src/infra/embedded-postgres.ts';
import { pgbouncerAvailable } from '../test/helpers/pgbouncer.ts';
import { startBouncedApp, startSoakApp, type SoakApp } from './app.ts';
import { auditedSince, auditedViews } from './clinics.ts';
import { formatFailure, runFuzz } from './fuzz.ts';
import { lostAuditEvents, runIsolationSoak } from './isolation.ts';
import { chooseSeed } from './random.ts';
import { formatFuzz, formatIsolation, formatMemory, memorySample } from './summary.ts';

const USAGE = `usage: npm run soak -- [options]
  --clinics N           look-alike clinics (default 50)
  --requests N          signed-in patient page requests per path, direct and through PgBouncer (default 20000)
  --duration S          keep each path's soak going for at least S seconds (default 0: just --requests)
  --connections N       requests in flight at once (default 64)
  --fuzz-cases N        hostile-input cases (default 20000)
  --fuzz-concurrency N  fuzz cases in flight at once (default 16)
  --fuzz-case N[,N...]  replay only these fuzz cases (with the seed that found them)
  --seed N              seed of the soak's and the fuzz's choices (default SOAK_SEED, FUZZ_SEED, else random)
  --timeout-ms N        no answer within this is a hang (default 10000)
  --only isolation|fuzz run one part
  --no-pgbouncer        skip the PgBouncer part`;

function fail(message: string): never {
  process.stderr.write(`soak: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function readArgs() {
  try {
    return parseArgs({
      options: {
        clinics: { type: 'string', default: '50' },
        requests: { type: 'string', default: '20000' },
        duration: { type: 'string', default: '0' },
        connections: { type: 'string', default: '64' },
        'fuzz-cases': { type: 'string', default: '20000' },
        'fuzz-concurrency': { type: 'string', default: '16' },
        'fuzz-case': { type: 'string' },
        seed: { type: 'string' },
        'timeout-ms': { type: 'string', default: '10000' },
        only: { type: 'string' },
        'no-pgbouncer': { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }).values;
  } catch (error) {
    return fail((error as Error).message);
  }
}

const parsed = readArgs();
if (parsed.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const count = (name: keyof typeof parsed, min: number): number => {
  const raw = String(parsed[name]);
  if (!/^\d+$/.test(raw) || Number(raw) < min) fail(`--${name} must be a whole number of at least ${min} (got "${raw}")`);
  return Number(raw);
};
const options = {
  clinics: count('clinics', 2),
  requests: count('requests', 0),
  durationMs: count('duration', 0) * 1000,
  connections: count('connections', 1),
  fuzzCases: count('fuzz-cases', 0),
  fuzzConcurrency: count('fuzz-concurrency', 1),
  timeoutMs: count('timeout-ms', 100),
};
if (parsed.only !== undefined && parsed.only !== 'isolation' && parsed.only !== 'fuzz') fail(`--only is isolation or fuzz (got "${parsed.only}")`);
const only = parsed.only as 'isolation' | 'fuzz' | undefined;
const replay = parsed['fuzz-case']?.split(',').map((n) => (/^\d+$/.test(n) ? Number(n) : fail(`--fuzz-case takes case numbers (got "${n}")`)));
let seed: number;
try {
  seed = chooseSeed(parsed.seed ?? process.env.SOAK_SEED ?? process.env.FUZZ_SEED);
} catch (error) {
  fail((error as Error).message);
}

const log = (line: string) => process.stdout.write(`${line}\n`);

// What the helpers register with tap's t.teardown in the tests: run here last set up, first closed.
const cleanups: (() => unknown)[] = [];
const t = { teardown: (fn: () => unknown) => void cleanups.push(fn) };
async function cleanUp(): Promise<void> {
  for (const fn of cleanups.reverse()) {
    try {
      await fn();
    } catch (error) {
      log(`note: clean-up failed: ${(error as Error).message}`);
    }
  }
}

let failed = false;
try {
  // The test helpers create the soak's database on the server DATABASE_URL names.
  if (!process.env.DATABASE_URL) {
    const embedded = await startEmbeddedPostgres({ dataDir: path.resolve('.data/soak-pg'), port: Number(process.env.SOAK_EMBEDDED_PG_PORT ?? 5491), database: 'postgres' });
    t.teardown(() => embedded.stop());
    process.env.DATABASE_URL = embedded.adminUrl;
  }
  const runIsolation = only !== 'fuzz';
  const runFuzzPart = only !== 'isolation';
  const withBouncer = runIsolation && !parsed['no-pgbouncer'] && pgbouncerAvailable();
  log(
    `Sidechart soak (seed ${seed}): ${options.clinics} look-alike clinics` +
      (runIsolation ? `; ${options.requests} signed-in requests${options.durationMs ? ` or ${options.durationMs / 1000} s` : ''} per path (direct${withBouncer ? ', PgBouncer' : ''}), ${options.connections} in flight` : '') +
      (runFuzzPart ? `; fuzz ${replay ? `cases ${replay.join(',')}` : `${options.fuzzCases} cases`}, ${options.fuzzConcurrency} in flight` : ''),
  );

  const setupStarted = performance.now();
  const direct = await startSoakApp(t, { clinics: options.clinics, prefix: 'soak', env: { DB_POOL_MAX: '10' } });
  const slugs = direct.clinics.map((c) => c.slug);
  log(`set-up: ${options.clinics} clinics seeded and signed in in ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`);
  globalThis.gc?.();
  const memoryStart = memorySample();
  log(formatMemory('memory at start', memoryStart));

  const soakPath = async (name: string, app: SoakApp) => {
    const before = await auditedViews(direct.runtime, slugs);
    const report = await runIsolationSoak({
      address: app.address,
      clinics: app.clinics,
      requests: options.requests,
      durationMs: options.durationMs,
      connections: options.connections,
      seed,
      timeoutMs: options.timeoutMs,
    });
    const lost = lostAuditEvents(report.servedBy, before, await auditedViews(direct.runtime, slugs));
    log(formatIsolation(name, report, lost));
    for (const sample of report.samples) log(`  ${sample}`);
    if (report.foreignRows > 0 || Object.keys(report.errors).length > 0 || lost > 0) failed = true;
  };

  if (runIsolation) {
    await soakPath('direct', direct);
    if (withBouncer) await soakPath('through PgBouncer (transaction mode)', await startBouncedApp(t, direct, { poolSize: 5 }));
    else log(`isolation through PgBouncer: skipped (${parsed['no-pgbouncer'] ? '--no-pgbouncer' : 'pgbouncer is not installed; .ci/run installs it'})`);
  }

  if (runFuzzPart) {
    const before = await auditedViews(direct.runtime, slugs);
    const report = await runFuzz({
      target: direct.fuzzTarget,
      seed,
      cases: options.fuzzCases,
      ...(replay ? { only: replay } : {}),
      concurrency: options.fuzzConcurrency,
      timeoutMs: options.timeoutMs,
    });
    const lost = Math.max(0, report.patientPagesServed - auditedSince(before, await auditedViews(direct.runtime, slugs)));
    log(formatFuzz(report, lost));
    const replayCase = (index: number) => `npm run soak -- --only fuzz --clinics ${options.clinics} --seed ${seed} --fuzz-case ${index}`;
    for (const failure of report.failures) log(formatFailure(failure, replayCase));
    for (const [id, { first }] of Object.entries(report.known)) log(`known issue ${id}, first case:\n${formatFailure(first, replayCase)}`);
    if (report.failedCases > 0 || lost > 0) failed = true;
  }

  globalThis.gc?.();
  log(formatMemory('memory at end', memorySample()));
  log(failed ? `result: FAILED (replay with --seed ${seed})` : 'result: passed');
} catch (error) {
  failed = true;
  log(`soak: ${(error as Error).stack ?? String(error)}`);
} finally {
  await cleanUp();
}
process.exit(failed ? 1 : 0);
