// The `patient-view` scenario of `npm run bench` (alias `button`; bench/index.ts): both paths of the
// Cliniko patient button through the whole app, each against a baseline measured in the same run.
//
//   baseline-nodb    a bare Fastify route answering a small constant HTML page, no database
//   anonymous click  GET /patients?patient_id=… on the clinic's host without a cookie; the app
//                    answers 303 to /login, which is the success here; against baseline-nodb
//   baseline-1q      a bare Fastify route doing one PostgreSQL query (the same patient row) through a
//                    pg.Pool as large as the app's (DB_POOL_MAX)
//   patient view     a signed-in GET /patients?patient_id=… of a patient Sidechart already holds
//                    (fresh: no Cliniko call): host parsing, tenant directory, session, user, page
//                    rendering and the audit write; against baseline-1q
//
// Targets (reported, not asserted): anonymous click >= 0.8x baseline-nodb's throughput; patient view
// >= 0.5x baseline-1q's throughput and p99 <= 2x its p99. Checks: every patient view served had its
// audit event (events written >= 200s served); the anonymous clicks wrote no row (a checksum of every
// table of the bench database — the clinic's schema, control, public — before and after each
// anonymous round). CPU that none of the three used ("other") is reported too: another process
// busy during the run makes its ratios less trustworthy.
//
// A round runs the four in order, the next round in reverse order (A B C D, D C B A …), so drift
// (autovacuum, a growing audit table, a warming cache) hits each measurement alike. The baselines run
// in this process, like the app; the load generator (autocannon) always in a child process
// (bench/load.ts). All three share the machine's cores: the CPU each used during each measurement is
// read from /proc (bench/cpu.ts) and reported.
//
// Environment: DATABASE_URL (else embedded PostgreSQL under .data/bench-pg; bench/index.ts chooses),
// BENCH_SECONDS (default 8), BENCH_CONNECTIONS (16), BENCH_ROUNDS (2);
// BENCH_CPU_PROFILE=dir writes a V8 CPU profile of this process during each measured patient-view
// and anonymous-click round to dir (`<measurement>-<time>.cpuprofile`, opens in Chrome DevTools);
// BENCH_KEEP_DB=1 keeps the bench's database (sidechart_bench_<time>) instead of dropping it.
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify from 'fastify';
import pg from 'pg';
import { request } from 'undici';
import { buildApp } from '../src/app.ts';
import { runCli } from '../src/cli/main.ts';
import { loadConfig } from '../src/config.ts';
import { createClinikoSimulator, seedDemo } from '../src/cliniko/simulator/index.ts';
import { createRuntime } from '../src/runtime.ts';
import { addTimes, createCpuMeter, cpuUse, formatCpu, type CpuMeter, type CpuTime, type CpuUse } from './cpu.ts';
import { load, type LoadRequest, type LoadResult } from './load.ts';
import { changedTables, tableChecksums } from './table-checksums.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 16);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const silent = { info() {}, warn() {}, error() {} };
const log = (line: string) => process.stdout.write(`${line}\n`);

export type MeasurementName = 'baseline-nodb' | 'anonymous click' | 'baseline-1q' | 'patient view';

/** A measured ratio against a baseline of the same run, and the issue's targets for it. */
export interface Comparison {
  baseline: MeasurementName;
  /** Throughput: this / baseline. */
  ratio: number;
  /** p99: this / baseline (for the patient view). */
  p99Ratio?: number;
  targets: { what: string; met: boolean }[];
}

/** One measurement over all rounds (means of the rounds; autocannon gives no histogram to merge). */
export interface Measurement {
  name: MeasurementName;
  description: string;
  /** The status that counts as success; any other status is an error. */
  success: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  /** Responses with another status than `success`, plus socket errors and timeouts. */
  errors: number;
  responses: number;
  statusCodes: Record<string, number>;
  /** Null when /proc could not be read. */
  cpu: CpuUse | null;
  /**
   * Transactions the same PostgreSQL server ran for other databases meanwhile (pg_stat_database):
   * its CPU figure counts the whole server, so other work there (a test run) lands in it.
   */
  otherDatabaseTransactions: number;
  vs?: Comparison;
  rounds: LoadResult[];
}

/** The `patient-view` scenario's report (bench/index.ts writes it to report.json, report.md, BENCHMARKS.md). */
export interface PatientViewResult {
  seconds: number;
  connections: number;
  rounds: number;
  poolMax: number;
  /** baseline-nodb, anonymous click, baseline-1q, patient view. */
  measurements: Measurement[];
  audit: { served: number; written: number; ok: boolean };
  /** Tables of the bench database (the clinic's schema, control, …) that the measured anonymous clicks changed. */
  anonymousWrites: { schemas: string[]; tablesChecked: number; changed: { table: string; rows: number }[] };
  cores: number;
  /** How the CPU figures were taken, or why they were not. */
  cpuSource: string;
  clinikoCalls: number;
}

/** `patient view 0.12x, p99 1.8x`: the ratio right next to the name. */
export function nameWithRatio(m: Measurement): string {
  if (!m.vs) return m.name;
  return `${m.name} ${m.vs.ratio.toFixed(2)}x${m.vs.p99Ratio === undefined ? '' : `, p99 ${m.vs.p99Ratio.toFixed(1)}x`}`;
}

/** `>= 0.50x: NOT met, p99 <= 2x: met` */
export function formatTargets(m: Measurement): string {
  return m.vs ? m.vs.targets.map((t) => `${t.what}: ${t.met ? 'met' : 'NOT met'}`).join(', ') : '';
}

function cliIo(stdin = '') {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s), interactive: false, readStdin: async () => stdin }, out, err };
}

async function cli(env: Record<string, string>, args: string[], stdin = ''): Promise<string> {
  const { io, out, err } = cliIo(stdin);
  const code = await runCli(args, io, { env });
  if (code !== 0) throw new Error(`sidechart ${args.join(' ')} failed: ${err.join('\n')}`);
  return out.join('\n');
}

async function startProfile(name: string): Promise<() => Promise<void>> {
  const dir = process.env.BENCH_CPU_PROFILE;
  if (!dir) return async () => {};
  const { Session } = await import('node:inspector/promises');
  const { writeFile, mkdir } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, `${name.replaceAll(' ', '-')}-${Date.now()}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  };
}

/** What one measurement loads, and what its rounds gathered. */
interface Plan {
  name: MeasurementName;
  description: string;
  success: number;
  origin: string;
  request: LoadRequest;
  runs: LoadResult[];
  cpu: CpuTime[];
  otherDatabaseTransactions: number;
}

/** Runs one load of a plan; the CPU window is exactly the generator's loading seconds. */
async function measure(plan: Plan, duration: number, meter: CpuMeter | null): Promise<void> {
  let window: { stop(): CpuTime } | undefined;
  const result = await load(
    { url: plan.origin, connections, duration, requests: [plan.request] },
    {
      onStart: (pid) => (window = meter?.start(pid)),
      onEnd: () => {
        const time = window?.stop();
        if (time) plan.cpu.push(time);
      },
    },
  );
  plan.runs.push(result);
}

function summarize(plan: Plan): Measurement {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const statusCodes: Record<string, number> = {};
  for (const run of plan.runs) for (const [code, n] of Object.entries(run.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + n;
  const responses = Object.values(statusCodes).reduce((a, b) => a + b, 0);
  const socketErrors = plan.runs.reduce((a, r) => a + r.errors, 0);
  const cpu = addTimes(plan.cpu);
  return {
    name: plan.name,
    description: plan.description,
    success: plan.success,
    requestsPerSecond: mean(plan.runs.map((r) => r.requestsPerSecond)),
    p50: mean(plan.runs.map((r) => r.p50)),
    p99: mean(plan.runs.map((r) => r.p99)),
    errors: responses - (statusCodes[String(plan.success)] ?? 0) + socketErrors,
    responses,
    statusCodes,
    cpu: cpu && cpuUse(cpu),
    otherDatabaseTransactions: plan.otherDatabaseTransactions,
    rounds: plan.runs,
  };
}

export async function patientView(serverUrl: string): Promise<PatientViewResult | null> {
  let outcome: PatientViewResult | null = null;
  // 1. A database of its own on the bench's server (bench/index.ts chose it).
  const dbName = `sidechart_bench_${Date.now()}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  const dbUrl = new URL(serverUrl);
  dbUrl.pathname = `/${dbName}`;

  // 2. The Cliniko simulator holding the demo account (used once, to import the patient).
  const simulator = createClinikoSimulator();
  const demo = seedDemo(simulator);
  const simAddress = await simulator.listen({ port: 0, host: '127.0.0.1' });
  const simPort = new URL(simAddress).port;

  const env: Record<string, string> = {
    SIDECHART_ENV: 'development',
    DATABASE_URL: dbUrl.toString(),
    LOG_LEVEL: 'silent',
    SIDECHART_DEMO: 'false',
    CLINIKO_SIMULATOR: 'false',
    CLINIKO_API_BASE: `http://api.{shard}.cliniko.localhost:${simPort}/v1`,
    DB_POOL_MAX: '10',
    // The load generator is one address: the per-address limits stay on the path, out of the way.
    RATE_LIMIT_ANONYMOUS_PATIENT_PER_MINUTE: '1000000',
    METRICS_PORT: '0',
  };
  const config = loadConfig(env);
  const runtime = await createRuntime({ config, log: silent, applicationName: 'sidechart-bench', listen: true, migrate: true });
  const app = await buildApp({ runtime, logger: false });
  const appAddress = await app.listen({ port: 0, host: '127.0.0.1' });
  const appPort = new URL(appAddress).port;

  try {
    // 3. A clinic, a signed-in staff member, a held patient.
    await cli(env, ['tenants', 'create', 'bench', '--name', 'Bench Physio']);
    const password = 'bench-password-123';
    await cli(env, ['users', 'create', 'bench', 'staff@bench.example', '--role', 'staff', '--password-stdin'], password);
    await cli(env, ['cliniko', 'connect', 'bench', '--key-stdin'], demo.apiKey);
    const tenant = await runtime.tenants.find('bench');
    const patientId = demo.patientIds.example;
    const host = `bench.localhost:${appPort}`;
    const origin = `http://127.0.0.1:${appPort}`;

    const loginPage = await request(`${origin}/login`, { headers: { host } });
    const loginHtml = await loginPage.body.text();
    const preCookie = String(loginPage.headers['set-cookie'] ?? '').split(';')[0]!;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(loginHtml)?.[1];
    if (!csrf || !preCookie) throw new Error('could not read the sign-in form');
    const signedIn = await request(`${origin}/login`, {
      method: 'POST',
      headers: { host, cookie: preCookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ email: 'staff@bench.example', password, _csrf: csrf }).toString(),
    });
    await signedIn.body.dump();
    const cookie = String(signedIn.headers['set-cookie'] ?? '').split(';')[0]!;
    if (signedIn.statusCode !== 303 || !cookie) throw new Error(`sign-in failed (${signedIn.statusCode})`);

    const patientPath = `/patients?patient_id=${patientId}`;
    const first = await request(`${origin}${patientPath}`, { headers: { host, cookie } });
    const firstBody = await first.body.text();
    if (first.statusCode !== 200) throw new Error(`patient page answered ${first.statusCode}: ${firstBody.slice(0, 200)}`);
    // Not thrown: if the app changes its answer, the load counts it as errors and the report says so.
    const anonymous = await request(`${origin}${patientPath}`, { headers: { host } });
    await anonymous.body.dump();
    const anonymousAnswer = `${anonymous.statusCode} to ${String(anonymous.headers.location ?? '(no location)')}`;
    if (anonymous.statusCode !== 303 || !String(anonymous.headers.location ?? '').startsWith('/login')) {
      log(`note: the anonymous click answered ${anonymousAnswer}, not 303 to /login`);
    }
    const upstreamBefore = simulator.requestCount();

    // 4. The baselines, in this process like the app: a constant page, and one query for the same
    // row through a pool of the app's size.
    const baselinePool = new pg.Pool({ connectionString: dbUrl.toString(), max: config.db.poolMax });
    baselinePool.on('error', () => {});
    const baseline = Fastify({ logger: false });
    const constantPage = '<!doctype html><html lang="en"><head><title>Baseline</title></head><body><p>Hello from a constant page.</p></body></html>';
    baseline.get('/nodb', async (_request, reply) => reply.type('text/html; charset=utf-8').send(constantPage));
    const table = `"${tenant.schemaName}".patients`;
    baseline.get('/one-query', async () => {
      const result = await baselinePool.query(`select * from ${table} where cliniko_id = $1`, [patientId]);
      return result.rows[0];
    });
    const baselineAddress = await baseline.listen({ port: 0, host: '127.0.0.1' });

    const plan = (name: MeasurementName, description: string, success: number, origin: string, request: LoadRequest): Plan => ({
      name,
      description,
      success,
      origin,
      request,
      runs: [],
      cpu: [],
      otherDatabaseTransactions: 0,
    });
    const get = (path: string, headers: Record<string, string> = {}): LoadRequest => ({ method: 'GET', path, headers });
    const noDb = plan('baseline-nodb', 'bare Fastify route, constant HTML page, no database', 200, baselineAddress, get('/nodb'));
    const anonymousClick = plan('anonymous click', `the button without a session: ${anonymousAnswer}`, 303, origin, get(patientPath, { host }));
    const oneQuery = plan('baseline-1q', `bare Fastify route, one query, pg.Pool of ${config.db.poolMax}`, 200, baselineAddress, get('/one-query'));
    const patient = plan('patient view', 'signed in, held patient, audited', 200, origin, get(patientPath, { host, cookie }));
    const plans = [noDb, anonymousClick, oneQuery, patient];

    // 5. What the report checks: the audit trail, the anonymous clicks' writes, the CPU.
    const inspect = new pg.Pool({ connectionString: dbUrl.toString(), max: 1 });
    inspect.on('error', () => {});
    const auditCount = async () => Number((await inspect.query(`select count(*) as n from "${tenant.schemaName}".audit_events`)).rows[0].n);
    // Every schema of the bench's database (the clinic's, control, public…), not only the two the
    // app is expected to touch: a write anywhere counts.
    const watchedSchemas = (await inspect.query<{ name: string }>(`select nspname as name from pg_namespace where nspname !~ '^pg_' and nspname <> 'information_schema' order by 1`)).rows.map((r) => r.name);
    const backendPid = Number((await admin.query('select pg_backend_pid() as pid')).rows[0].pid);
    const meter = createCpuMeter({ backendPid });
    // Per database, since others (a test run's) come and go: one created meanwhile counts whole, one
    // dropped meanwhile is lost. Read through `admin`, itself on another database, so these reads
    // count too (a few; see formatInterference).
    const otherDatabaseTransactions = async () => {
      const { rows } = await admin.query<{ datid: number; n: string }>(
        'select datid, xact_commit + xact_rollback as n from pg_stat_database where datname is distinct from $1',
        [dbName],
      );
      return new Map(rows.map((r) => [r.datid, Number(r.n)]));
    };
    const transactionsSince = (before: Map<number, number>, after: Map<number, number>) =>
      [...after].reduce((sum, [datid, n]) => sum + Math.max(0, n - (before.get(datid) ?? 0)), 0);
    // Requests still in flight when autocannon stops finish in the app after it; let them, so they
    // count in neither the next measurement's CPU nor its audit or checksum window.
    const settle = () => sleep(300);

    log(`${rounds} round(s) of ${seconds} s each, ${connections} connections, pool ${config.db.poolMax}, ${os.cpus().length} cores shared by the app, PostgreSQL and the load generator`);
    for (const p of plans) {
      await load({ url: p.origin, connections, duration: 2, requests: [p.request] }); // warm-up
      await settle();
    }

    let auditWritten = 0;
    let tablesChecked = 0;
    const anonymousChanges = new Map<string, number>();
    for (let round = 0; round < rounds; round++) {
      // A B C D, then D C B A: over two rounds each measurement has the same mean position.
      for (const p of round % 2 === 0 ? plans : [...plans].reverse()) {
        const checksumsBefore = p === anonymousClick ? await tableChecksums(inspect, watchedSchemas) : null;
        const auditBefore = p === patient ? await auditCount() : 0;
        const stopProfile = p === patient || p === anonymousClick ? await startProfile(p.name) : async () => {};
        const otherBefore = await otherDatabaseTransactions();
        await measure(p, seconds, meter);
        await stopProfile();
        await settle();
        p.otherDatabaseTransactions += transactionsSince(otherBefore, await otherDatabaseTransactions());
        if (p === patient) auditWritten += (await auditCount()) - auditBefore;
        if (checksumsBefore) {
          tablesChecked = checksumsBefore.size;
          for (const change of changedTables(checksumsBefore, await tableChecksums(inspect, watchedSchemas))) {
            anonymousChanges.set(change.table, (anonymousChanges.get(change.table) ?? 0) + change.rows);
          }
        }
      }
    }

    // 6. The report.
    const [noDbResult, anonymousResult, oneQueryResult, patientResult] = plans.map(summarize) as [Measurement, Measurement, Measurement, Measurement];
    const anonymousRatio = anonymousResult.requestsPerSecond / noDbResult.requestsPerSecond;
    anonymousResult.vs = { baseline: 'baseline-nodb', ratio: anonymousRatio, targets: [{ what: '>= 0.8x', met: anonymousRatio >= 0.8 }] };
    const patientRatio = patientResult.requestsPerSecond / oneQueryResult.requestsPerSecond;
    const p99Ratio = patientResult.p99 / oneQueryResult.p99;
    patientResult.vs = {
      baseline: 'baseline-1q',
      ratio: patientRatio,
      p99Ratio,
      targets: [
        { what: '>= 0.5x', met: patientRatio >= 0.5 },
        { what: 'p99 <= 2x', met: p99Ratio <= 2 },
      ],
    };
    const measurements = [noDbResult, anonymousResult, oneQueryResult, patientResult];
    const served = patientResult.statusCodes['200'] ?? 0;
    outcome = {
      seconds,
      connections,
      rounds,
      poolMax: config.db.poolMax,
      measurements,
      audit: { served, written: auditWritten, ok: auditWritten >= served },
      anonymousWrites: { schemas: watchedSchemas, tablesChecked, changed: [...anonymousChanges].map(([table, rows]) => ({ table, rows })) },
      cores: os.cpus().length,
      cpuSource: meter ? `/proc; PostgreSQL is ${meter.postgresFound}` : 'nowhere: /proc is not readable here',
      clinikoCalls: simulator.requestCount() - upstreamBefore,
    };
    for (const line of formatPatientView(outcome)) log(line);

    await inspect.end();
    await baseline.close();
    await baselinePool.end();
  } finally {
    await app.close();
    await runtime.close();
    await simulator.close();
    const lingering = await admin.query('select application_name, state from pg_stat_activity where datname = $1', [dbName]);
    if (lingering.rowCount) log(`note: connections still open at the end: ${JSON.stringify(lingering.rows)}`);
    if (process.env.BENCH_KEEP_DB) log(`kept the bench database ${dbName} (BENCH_KEEP_DB)`);
    else await admin.query(`drop database if exists ${dbName} with (force)`);
    await admin.end();
  }
  return outcome;
}

/** `rows written by anonymous clicks: 0`, or which tables changed. */
export function formatAnonymousWrites(r: PatientViewResult): string {
  const { changed, tablesChecked, schemas } = r.anonymousWrites;
  if (changed.length === 0) return `rows written by anonymous clicks: 0 (${tablesChecked} tables in ${schemas.join(', ')} unchanged)`;
  const rows = changed.reduce((a, c) => a + Math.max(0, c.rows), 0);
  const tables = changed.map((c) => `${c.table} ${c.rows > 0 ? `+${c.rows}` : c.rows === 0 ? 'rows updated' : c.rows}`).join(', ');
  return `rows written by anonymous clicks: ${rows} (changed: ${tables})`;
}

export function formatAudit(r: PatientViewResult): string {
  return `audit events written during the measured patient views: ${r.audit.written} for ${r.audit.served} views served (200): ${r.audit.ok ? 'OK' : 'MISSING'}`;
}

export function formatCores(r: PatientViewResult): string {
  const postgresElsewhere = r.measurements.some((m) => m.cpu && m.cpu.postgres === null);
  return postgresElsewhere
    ? `cores: ${r.cores}, shared by the app (the bench process, which also runs the baselines) and the load generator; PostgreSQL's processes are not visible here (another machine or container?)`
    : `cores: ${r.cores}, shared by the app (the bench process, which also runs the baselines), PostgreSQL and the load generator`;
}

/** A warning when other processes took a noticeable share of the machine during a measurement. */
export function formatInterference(r: PatientViewResult): string | null {
  const busiest = Math.max(0, ...r.measurements.map((m) => m.cpu?.other ?? 0));
  const otherTransactions = r.measurements.reduce((a, m) => a + m.otherDatabaseTransactions, 0);
  // A few a round are the bench's own reads of pg_stat_database and the server's background work.
  const otherDatabasesBusy = r.measurements.some((m) => m.otherDatabaseTransactions > 5 * r.rounds);
  const busy = [
    ...(busiest >= 25 ? [`other processes kept the machine busy (other up to ${busiest.toFixed(0)}% of ${r.cores * 100}%)`] : []),
    ...(otherDatabasesBusy ? [`PostgreSQL ran ${otherTransactions} transactions for other databases (counted in its CPU)`] : []),
  ];
  return busy.length ? `note: during the measurements ${busy.join(' and ')}: the figures are less trustworthy; rerun on a quiet machine` : null;
}

/** `CPU during patient view: app 95%, PostgreSQL 60%, generator 40%, other 2% (of 200% on 2 cores)` */
export function formatCpuOf(r: PatientViewResult, m: Measurement): string {
  return `CPU during ${m.name}: ${m.cpu ? formatCpu(m.cpu, r.cores) : 'not measured (/proc is not readable here)'}`;
}

function formatPatientView(r: PatientViewResult): string[] {
  const ms = (n: number) => `${n.toFixed(1)} ms`;
  const lines = ['', `${'measurement'.padEnd(32)}${'req/s'.padStart(8)}${'p50'.padStart(11)}${'p99'.padStart(11)}${'errors'.padStart(8)}   target`];
  for (const m of r.measurements) {
    const errors = m.errors === 0 ? '0' : `${m.errors} (${JSON.stringify(m.statusCodes)})`;
    lines.push(`${nameWithRatio(m).padEnd(32)}${m.requestsPerSecond.toFixed(0).padStart(8)}${ms(m.p50).padStart(11)}${ms(m.p99).padStart(11)}${errors.padStart(8)}   ${formatTargets(m)}`);
  }
  lines.push('', formatAudit(r), formatAnonymousWrites(r), '');
  lines.push(formatCores(r), `CPU measured from ${r.cpuSource}`);
  for (const m of r.measurements) lines.push(formatCpuOf(r, m));
  const interference = formatInterference(r);
  if (interference) lines.push(interference);
  lines.push(`Cliniko calls during the measurement: ${r.clinikoCalls}`);
  return lines;
}
