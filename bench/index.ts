// `npm run bench [-- --scenario a,b] [-- --full]`: every scenario measures what it compares in the
// same run and prints ratios or rates; nothing is asserted. Scenarios:
//   patient-view   (alias: button) the Cliniko button through the whole app against baselines of the
//                  same run: the anonymous click (303 to sign-in) against a bare Fastify route
//                  without database, the signed-in patient view against one with one PostgreSQL
//                  query; p50/p99, errors, ratios and targets, the audit check, CPU use (bench/run.ts)
//   provisioning   clinics/s in windows as clinics accumulate, 4 at a time, and a no-op migrate over
//                  all of them (bench/scale.ts)
//   migrations     an additive migration over many clinics (bench/scale.ts)
//   directory      the patient view with 10 clinics vs thousands in the directory, requests spread
//                  over 1,000 of them (bench/directory.ts)
//   backend-memory PostgreSQL backend memory after a pool served 1,000 clinics, with and without
//                  connection recycling (bench/scale.ts)
// The default is quick (a few minutes); --full runs the sizes the issue targets (10,000 clinics) and
// writes BENCHMARKS.md. Results also go to .data/bench/report.json and report.md.
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/infra/embedded-postgres.ts';
import { directoryScale, type DirectoryResult } from './directory.ts';
import { formatAnonymousWrites, formatAudit, formatCores, formatCpuOf, formatInterference, formatTargets, nameWithRatio, type PatientViewResult } from './run.ts';
import { backendMemory, migrations, provisioning, type BackendMemoryResult, type MigrationsResult, type ProvisioningResult } from './scale.ts';

const args = process.argv.slice(2);
const full = args.includes('--full');
const scenarioArg = args.find((_arg, i) => args[i - 1] === '--scenario') ?? args.find((a) => a.startsWith('--scenario='))?.slice('--scenario='.length);
const ALL = ['patient-view', 'provisioning', 'migrations', 'directory', 'backend-memory'] as const;
const ALIASES: Record<string, (typeof ALL)[number]> = { button: 'patient-view' };
const scenarios = scenarioArg ? scenarioArg.split(',').map((s) => ALIASES[s] ?? s) : [...ALL];
for (const s of scenarios) {
  if (!(ALL as readonly string[]).includes(s)) {
    process.stderr.write(`bench: unknown scenario "${s}" (known: ${ALL.join(', ')}; button is patient-view)\n`);
    process.exit(2);
  }
}
const log = (line: string) => process.stdout.write(`${line}\n`);

let stopEmbedded = async () => {};
let serverUrl = process.env.DATABASE_URL;
if (!serverUrl) {
  const embedded = await startEmbeddedPostgres({ dataDir: path.resolve('.data/bench-pg'), port: 5490, database: 'postgres' });
  serverUrl = embedded.adminUrl;
  stopEmbedded = embedded.stop;
}
const admin = new pg.Client({ connectionString: serverUrl });
await admin.connect();
const pgVersion = String((await admin.query('show server_version')).rows[0].server_version);
await admin.end();
const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, PostgreSQL ${pgVersion}, Node ${process.version}`;
log(`Sidechart bench (${full ? 'full' : 'quick'}): ${scenarios.join(', ')}\n  machine: ${machine}`);

const report: { date: string; machine: string; full: boolean; provisioning?: ProvisioningResult; migrations?: MigrationsResult; directory?: DirectoryResult; backendMemory?: BackendMemoryResult; patientView?: PatientViewResult } = {
  date: new Date().toISOString(),
  machine,
  full,
};
try {
  if (scenarios.includes('provisioning')) {
    log('\nprovisioning');
    report.provisioning = await provisioning({ serverUrl, log, total: full ? 10_000 : 500, window: full ? 1_000 : 100 });
  }
  if (scenarios.includes('migrations')) {
    log('\nmigrations');
    report.migrations = await migrations({ serverUrl, log, clinics: full ? 1_000 : 300, concurrency: 4 });
  }
  if (scenarios.includes('directory')) {
    log('\ndirectory');
    report.directory = await directoryScale({ serverUrl, log, total: full ? 10_000 : 1_000, seconds: full ? 10 : 6 });
  }
  if (scenarios.includes('backend-memory')) {
    log('\nbackend memory');
    report.backendMemory = await backendMemory({ serverUrl, log, clinics: 1_000, requests: 10_000, poolMax: 10 });
  }
  if (scenarios.includes('patient-view')) {
    log('\npatient view');
    report.patientView = (await (await import('./run.ts')).patientView(serverUrl)) ?? undefined;
  }
} finally {
  await stopEmbedded();
}

const lines = [`# Sidechart benchmark (${full ? 'full' : 'quick'}, ${report.date})`, '', `Machine: ${machine}`, ''];
if (report.provisioning) {
  const p = report.provisioning;
  const first = p.windows[0]!;
  const last = p.windows.at(-1)!;
  lines.push(
    '| Provisioning | Sidechart | django-tenants 3.5 (same kind of machine) |',
    '|---|---|---|',
    `| clinics ${first.from + 1}-${first.to}, sequential | ${first.perSecond.toFixed(1)} /s | 7.4 /s |`,
    `| clinics ${last.from + 1}-${last.to}, sequential | ${last.perSecond.toFixed(1)} /s (last/first ${(last.perSecond / first.perSecond).toFixed(2)}x) | slows as schemas accumulate |`,
    `| 4 at a time, after ${p.concurrent.at} | ${p.concurrent.perSecond.toFixed(1)} /s | |`,
    `| no-op migrate over ${p.noOp.clinics} clinics | ${p.noOp.seconds.toFixed(2)} s | 46 s for 1,000 |`,
    '',
  );
}
if (report.migrations) {
  const m = report.migrations;
  lines.push('| Migrations | Sidechart | django-tenants 3.5 |', '|---|---|---|', `| additive over ${m.clinics} clinics | ${m.additiveSeconds.toFixed(2)} s (${m.additiveFailed} failed) | 65 s for 1,000 |`, '');
}
if (report.directory) {
  const d = report.directory;
  lines.push(
    '| Patient view vs clinics in the directory | req/s | p99 |',
    '|---|---|---|',
    `| ${d.small.clinics} clinics, spread over ${d.small.spreadOver} | ${d.small.requestsPerSecond.toFixed(0)} | ${d.small.p99} ms |`,
    `| ${d.large.clinics} clinics, spread over ${d.large.spreadOver} | ${d.large.requestsPerSecond.toFixed(0)} (${d.ratio.toFixed(2)}x) | ${d.large.p99} ms |`,
    '',
  );
}
if (report.backendMemory) {
  const b = report.backendMemory;
  lines.push(`| PostgreSQL backend after ${b.requests} requests over ${b.clinics} clinics (pool ${b.poolMax}) | memory per backend | of which catalog caches |`, '|---|---|---|');
  for (const r of b.runs) lines.push(`| recycling: ${r.recycling} | ${r.totalMiB.toFixed(1)} MiB | ${r.cacheMiB.toFixed(1)} MiB |`);
  lines.push('');
}
if (report.patientView) {
  const v = report.patientView;
  // django-tenants' figure is for a tenant-resolved one-row read: the signed-in patient view's peer.
  const peer = (name: string) => (name === 'patient view' ? '~860 req/s (persistent connections), ~100 req/s (default connections)' : 'n/a');
  const ms = (n: number) => `${n.toFixed(1)} ms`;
  lines.push(
    `| Cliniko button, one clinic (${v.rounds} rounds of ${v.seconds} s, ${v.connections} connections, pool ${v.poolMax}) | Sidechart req/s | p50 | p99 | errors | ratio vs its baseline | target | django-tenants 3.5 (same kind of machine) |`,
    '|---|---|---|---|---|---|---|---|',
  );
  for (const m of v.measurements) {
    const ratio = m.vs ? `${m.vs.ratio.toFixed(2)}x${m.vs.p99Ratio === undefined ? '' : `, p99 ${m.vs.p99Ratio.toFixed(1)}x`} (vs ${m.vs.baseline})` : 'baseline';
    lines.push(`| ${nameWithRatio(m)}: ${m.description} | ${m.requestsPerSecond.toFixed(0)} | ${ms(m.p50)} | ${ms(m.p99)} | ${m.errors} | ${ratio} | ${formatTargets(m) || '-'} | ${peer(m.name)} |`);
  }
  const patient = v.measurements.find((m) => m.name === 'patient view');
  lines.push('', `${formatAudit(v)}. ${formatAnonymousWrites(v)}.`, '', `${formatCores(v)}. ${patient ? formatCpuOf(v, patient) : ''}.`);
  const interference = formatInterference(v);
  lines.push(...(interference ? ['', `${interference}.`] : []), '');
}
lines.push(`Produced by \`npm run bench${full ? ' -- --full' : ''}\`.`);
const markdown = lines.join('\n');
await mkdir('.data/bench', { recursive: true });
await writeFile('.data/bench/report.json', `${JSON.stringify(report, null, 2)}\n`);
await writeFile('.data/bench/report.md', `${markdown}\n`);
if (full) await writeFile('BENCHMARKS.md', `${markdown}\n`);
log(`\nreport: .data/bench/report.json, .data/bench/report.md${full ? ', BENCHMARKS.md' : ''}`);
process.exit(0);
