// The `patient-view` scenario of `npm run bench` (bench/index.ts): measures the hot path against a baseline in the same run and reports ratios.
//
//   baseline   a bare Fastify route doing one PostgreSQL query (the same patient row, same pool size)
//   patient    an authenticated GET /patients?patient_id=… of a patient Sidechart already holds
//              (fresh: no Cliniko call), through the whole app: host parsing, tenant directory,
//              session, user, page rendering and the audit write
//
// Target (issue 4): patient >= 0.5 x baseline throughput. The load comes from autocannon in its own
// process; rounds alternate baseline/patient so drift hits both. Environment: DATABASE_URL (else
// embedded PostgreSQL under .data/bench-pg), BENCH_SECONDS (default 8), BENCH_CONNECTIONS (16),
// BENCH_ROUNDS (2).
import { spawn } from 'node:child_process';
import path from 'node:path';
import Fastify from 'fastify';
import pg from 'pg';
import { request } from 'undici';
import { buildApp } from '../src/app.ts';
import { runCli } from '../src/cli/main.ts';
import { loadConfig } from '../src/config.ts';
import { createClinikoSimulator, seedDemo } from '../src/cliniko/simulator/index.ts';
import { createRuntime } from '../src/runtime.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 16);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const silent = { info() {}, warn() {}, error() {} };
const log = (line: string) => process.stdout.write(`${line}\n`);

export interface LoadResult {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  total: number;
}

/** Runs autocannon in a child process (its own core) and returns its summary. */
function load(url: string, headers: Record<string, string>, duration: number): Promise<LoadResult> {
  const args = ['--json', '-c', String(connections), '-d', String(duration)];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}=${value}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn(path.resolve('node_modules/.bin/autocannon'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`autocannon failed (${code}): ${err}`));
      const r = JSON.parse(out);
      resolve({ requestsPerSecond: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors, total: r.requests.total });
    });
  });
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

/** The patient view against its baseline (the scenario `patient-view` of bench/index.ts). */
export interface PatientViewResult {
  baseline: number;
  view: number;
  ratio: number;
  viewP99: number;
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

    const patientUrl = `${origin}/patients?patient_id=${patientId}`;
    const first = await request(patientUrl, { headers: { host, cookie } });
    const firstBody = await first.body.text();
    if (first.statusCode !== 200) throw new Error(`patient page answered ${first.statusCode}: ${firstBody.slice(0, 200)}`);
    const upstreamBefore = simulator.requestCount();

    // 4. The baseline: a bare Fastify route, one query for the same row, a pool of the same size.
    const baselinePool = new pg.Pool({ connectionString: dbUrl.toString(), max: config.db.poolMax });
    baselinePool.on('error', () => {});
    const baseline = Fastify({ logger: false });
    const table = `"${tenant.schemaName}".patients`;
    baseline.get('/baseline', async () => {
      const result = await baselinePool.query(`select * from ${table} where cliniko_id = $1`, [patientId]);
      return result.rows[0];
    });
    const baselineAddress = await baseline.listen({ port: 0, host: '127.0.0.1' });

    log(`Sidechart bench: ${rounds} round(s) of ${seconds} s, ${connections} connections, pool ${config.db.poolMax}, Node ${process.version}`);
    await load(`${baselineAddress}/baseline`, {}, 2); // warm-up
    await load(patientUrl, { host, cookie }, 2);

    const auditPool = new pg.Pool({ connectionString: dbUrl.toString(), max: 1 });
    auditPool.on('error', () => {});
    const auditCount = async () => Number((await auditPool.query(`select count(*) as n from "${tenant.schemaName}".audit_events`)).rows[0].n);
    const results: { baseline: LoadResult[]; patient: LoadResult[] } = { baseline: [], patient: [] };
    let auditWritten = 0;
    let patientServed = 0;
    for (let round = 0; round < rounds; round++) {
      results.baseline.push(await load(`${baselineAddress}/baseline`, {}, seconds));
      const before = await auditCount();
      const patient = await load(patientUrl, { host, cookie }, seconds);
      auditWritten += (await auditCount()) - before;
      patientServed += patient.total - patient.non2xx;
      results.patient.push(patient);
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const base = mean(results.baseline.map((r) => r.requestsPerSecond));
    const view = mean(results.patient.map((r) => r.requestsPerSecond));
    const ratio = view / base;
    outcome = { baseline: base, view, ratio, viewP99: mean(results.patient.map((r) => r.p99)) };
    const row = (name: string, rs: LoadResult[]) =>
      `${name.padEnd(34)}${mean(rs.map((r) => r.requestsPerSecond)).toFixed(0).padStart(9)} req/s   p50 ${mean(rs.map((r) => r.p50)).toFixed(1).padStart(6)} ms   p99 ${mean(rs.map((r) => r.p99)).toFixed(1).padStart(6)} ms   non-2xx ${rs.reduce((a, r) => a + r.non2xx + r.errors, 0)}`;
    log('');
    log(row('baseline (Fastify + 1 query)', results.baseline));
    log(row('patient view (held, signed in)', results.patient));
    log('');
    log(`ratio patient/baseline: ${ratio.toFixed(2)} (target >= 0.50: ${ratio >= 0.5 ? 'met' : 'NOT met'})`);
    log(`audit events written during measured patient views: ${auditWritten} for ${patientServed} pages served`);
    log(`Cliniko calls during the measurement: ${simulator.requestCount() - upstreamBefore}`);
    await auditPool.end();
    await baseline.close();
    await baselinePool.end();
  } finally {
    await app.close();
    await runtime.close();
    await simulator.close();
    const lingering = await admin.query('select application_name, state from pg_stat_activity where datname = $1', [dbName]);
    if (lingering.rowCount) log(`note: connections still open at the end: ${JSON.stringify(lingering.rows)}`);
    await admin.query(`drop database if exists ${dbName} with (force)`);
    await admin.end();
  }
  return outcome;
}
