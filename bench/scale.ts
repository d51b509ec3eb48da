// Scale scenarios of `npm run bench` (issue 8): what a growing number of clinics costs.
//
//   provisioning   clinics created through TenantService.create, sequentially, in windows: clinics/s
//                  of each window, so growth with the number of clinics is visible; then a window
//                  with 4 creations at a time
//   migrations     a no-op `migrate` over every clinic, and an additive migration (one nullable
//                  column and an index on patients) over them, through the same runner as
//                  `sidechart migrate`
//
// Each scenario gets a database of its own on the server (DATABASE_URL, else the embedded one) and
// drops it afterwards.
import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import type { MigrationProvider } from 'kysely/migration';
import { loadConfig } from '../src/config.ts';
import { createRuntime, type Runtime } from '../src/runtime.ts';
import { tenantMigrations } from '../src/tenancy/migrations.ts';

const silent = { info() {}, warn() {}, error() {} };

export interface ScaleOptions {
  serverUrl: string;
  log: (line: string) => void;
}

/** A database of its own on the bench's server for `work`, dropped afterwards. */
export async function withDatabase<T>(serverUrl: string, work: (url: string) => Promise<T>): Promise<T> {
  const name = `sidechart_bench_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  try {
    return await work(url.toString());
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

async function runtimeOn(url: string, provider?: MigrationProvider): Promise<Runtime> {
  const config = loadConfig({ DATABASE_URL: url, LOG_LEVEL: 'silent', SIDECHART_DEMO: 'false', CLINIKO_SIMULATOR: 'false', DB_POOL_MAX: '10', RATE_LIMIT_SIGN_IN_PER_MINUTE: '1000000', SESSION_SECRET: 'b'.repeat(40), SIDECHART_ENCRYPTION_KEYS: `bench:${Buffer.alloc(32, 7).toString('base64')}` });
  return createRuntime({ config, log: silent, applicationName: 'sidechart-bench', migrate: true, ...(provider ? { tenantMigrations: provider } : {}) });
}

/** Runs `count` creations, `concurrency` at a time; returns clinics per second. */
async function createMany(runtime: Runtime, prefix: string, from: number, count: number, concurrency: number): Promise<number> {
  const started = performance.now();
  let next = from;
  const end = from + count;
  const worker = async () => {
    while (next < end) {
      const i = next++;
      await runtime.tenants.create({ slug: `${prefix}-${i}` });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return count / ((performance.now() - started) / 1000);
}

export interface ProvisioningResult {
  windows: { from: number; to: number; perSecond: number }[];
  concurrent: { concurrency: number; at: number; perSecond: number };
  /** A no-op `migrate` over every clinic created. */
  noOp: { clinics: number; seconds: number };
}

export async function provisioning(options: ScaleOptions & { total: number; window: number }): Promise<ProvisioningResult> {
  return withDatabase(options.serverUrl, async (url) => {
    const runtime = await runtimeOn(url);
    try {
      const windows: ProvisioningResult['windows'] = [];
      for (let from = 0; from < options.total; from += options.window) {
        const perSecond = await createMany(runtime, 'seq', from, options.window, 1);
        windows.push({ from, to: from + options.window, perSecond });
        options.log(`  provisioning: clinics ${from + 1}-${from + options.window}: ${perSecond.toFixed(1)} clinics/s`);
      }
      const perSecond = await createMany(runtime, 'par', 0, options.window, 4);
      options.log(`  provisioning: ${options.window} more with 4 at a time (after ${options.total}): ${perSecond.toFixed(1)} clinics/s`);
      const clinics = options.total + options.window;
      const started = performance.now();
      const noOp = await runtime.tenants.migrateBehind({ concurrency: 4 });
      const seconds = (performance.now() - started) / 1000;
      if (noOp.results.length !== 0) throw new Error(`the no-op migrate touched ${noOp.results.length} clinics`);
      options.log(`  no-op migrate over ${clinics} clinics: ${seconds.toFixed(2)} s`);
      return { windows, concurrent: { concurrency: 4, at: options.total, perSecond }, noOp: { clinics, seconds } };
    } finally {
      await runtime.close();
    }
  });
}

/** The migrations of the app plus one additive migration (a nullable column and an index). */
function withAdditive(): MigrationProvider {
  const base = tenantMigrations();
  return {
    async getMigrations() {
      return {
        ...(await base.getMigrations()),
        '9000_bench_additive': {
          async up(db: Kysely<unknown>) {
            await db.schema.alterTable('patients').addColumn('bench_flag', 'text').execute();
            await db.schema.createIndex('patients_bench_flag_idx').on('patients').column('bench_flag').execute();
          },
        },
      };
    },
  };
}

export interface MigrationsResult {
  clinics: number;
  noOpSeconds: number;
  additiveSeconds: number;
  additiveFailed: number;
}

export async function migrations(options: ScaleOptions & { clinics: number; concurrency: number }): Promise<MigrationsResult> {
  return withDatabase(options.serverUrl, async (url) => {
    const setup = await runtimeOn(url);
    try {
      await createMany(setup, 'mig', 0, options.clinics, 4);
    } finally {
      await setup.close();
    }
    const plain = await runtimeOn(url);
    let noOpSeconds: number;
    try {
      const started = performance.now();
      const noOp = await plain.tenants.migrateBehind({ concurrency: options.concurrency });
      noOpSeconds = (performance.now() - started) / 1000;
      if (noOp.results.length !== 0) throw new Error(`the no-op migrate touched ${noOp.results.length} clinics`);
      options.log(`  migrations: no-op over ${options.clinics} clinics: ${noOpSeconds.toFixed(2)} s`);
    } finally {
      await plain.close();
    }
    const additive = await runtimeOn(url, withAdditive());
    try {
      const started = performance.now();
      const run = await additive.tenants.migrateBehind({ concurrency: options.concurrency });
      const additiveSeconds = (performance.now() - started) / 1000;
      const failed = run.results.filter((r) => r.outcome === 'failed').length;
      options.log(`  migrations: additive over ${options.clinics} clinics, concurrency ${options.concurrency}: ${additiveSeconds.toFixed(2)} s (${(options.clinics / additiveSeconds).toFixed(1)} clinics/s, ${failed} failed)`);
      const columns = await sql<{ n: string }>`select count(*) as n from information_schema.columns where column_name = 'bench_flag'`.execute(additive.databases.control);
      if (Number(columns.rows[0]!.n) !== options.clinics) throw new Error(`the additive migration reached ${columns.rows[0]!.n} of ${options.clinics} clinics`);
      return { clinics: options.clinics, noOpSeconds, additiveSeconds, additiveFailed: failed };
    } finally {
      await additive.close();
    }
  });
}

export interface BackendMemoryResult {
  clinics: number;
  requests: number;
  poolMax: number;
  /** Per backend of the pool, after serving the requests: all memory contexts, and the catalog caches. */
  runs: { recycling: string; totalMiB: number; cacheMiB: number; backends: number }[];
}

/**
 * What serving many clinics costs PostgreSQL: each backend caches the catalog entries (relcache,
 * catcache) of every table and index it has touched, so a pooled connection that has served 1,000
 * clinics holds the metadata of ~1,000 x 10 relations. Measured from inside each backend with
 * pg_backend_memory_contexts, after a pool has served the same request mix (a clinic's session,
 * users and settings, a patient and its notes, an audit insert) with and without recycling.
 */
export async function backendMemory(options: ScaleOptions & { clinics: number; requests: number; poolMax: number }): Promise<BackendMemoryResult> {
  return withDatabase(options.serverUrl, async (url) => {
    const setup = await runtimeOn(url);
    const schemas: string[] = [];
    try {
      await createMany(setup, 'mem', 0, options.clinics, 4);
      for (const t of await setup.tenants.list()) schemas.push(t.schemaName);
    } finally {
      await setup.close();
    }
    const runs: BackendMemoryResult['runs'] = [];
    for (const recycling of [{ label: 'none', maxUses: Infinity }, { label: 'maxUses 2000', maxUses: 2000 }, { label: 'maxUses 500', maxUses: 500 }, { label: 'maxUses 100', maxUses: 100 }]) {
      const pool = new pg.Pool({ connectionString: url, max: options.poolMax, maxUses: recycling.maxUses, application_name: 'sidechart-bench-memory' });
      try {
        let next = 0;
        const worker = async () => {
          while (next < options.requests) {
            const schema = schemas[next++ % schemas.length]!;
            const client = await pool.connect();
            try {
              const s = `"${schema}"`;
              await client.query(`select s.data, u.id from ${s}.sessions s join ${s}.auth_settings a on true left join ${s}.users u on u.id = 1 where s.id = $1`, ['x']);
              await client.query(`select * from ${s}.patients p where p.cliniko_id = $1`, ['836447129235883061']);
              await client.query(`select * from ${s}.patient_notes where patient_id = $1`, ['836447129235883061']);
              await client.query(`select * from ${s}.cliniko_connection`);
              await client.query(`insert into ${s}.audit_events (action, outcome, patient_id) values ('view', 'bench', $1)`, ['836447129235883061']);
            } finally {
              client.release();
            }
          }
        };
        await Promise.all(Array.from({ length: options.poolMax }, worker));
        // Every connection of the pool, at once, reports its own backend's memory.
        const clients = await Promise.all(Array.from({ length: options.poolMax }, () => pool.connect()));
        const measured = await Promise.all(
          clients.map(async (client) => {
            const { rows } = await client.query<{ total: string; cache: string }>(
              `select sum(total_bytes) as total, sum(total_bytes) filter (where name = 'CacheMemoryContext' or parent = 'CacheMemoryContext') as cache from pg_backend_memory_contexts`,
            );
            return { total: Number(rows[0]!.total), cache: Number(rows[0]!.cache) };
          }),
        );
        for (const client of clients) client.release();
        const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length / 2 ** 20;
        const run = { recycling: recycling.label, totalMiB: mean(measured.map((m) => m.total)), cacheMiB: mean(measured.map((m) => m.cache)), backends: measured.length };
        runs.push(run);
        options.log(`  backend memory after ${options.requests} requests over ${options.clinics} clinics, recycling ${run.recycling}: ${run.totalMiB.toFixed(1)} MiB per backend (catalog caches ${run.cacheMiB.toFixed(1)} MiB)`);
      } finally {
        await pool.end();
      }
    }
    return { clinics: options.clinics, requests: options.requests, poolMax: options.poolMax, runs };
  });
}
