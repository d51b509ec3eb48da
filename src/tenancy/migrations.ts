// Migrations for the control plane and for every tenant schema, with Kysely's Migrator.
// The control plane records each tenant's applied version, so finding the tenants that need work
// is one query however many tenants there are; the work itself runs with bounded concurrency, each
// tenant in its own transaction (all of its pending migrations or none), failures recorded per
// tenant and retried on the next run.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileMigrationProvider, Migrator, type MigrationProvider } from 'kysely/migration';
import { sql, type Kysely } from 'kysely';
import type { ControlDb, Region } from '../infra/db.ts';
import { isTenantSchemaName } from './clinic.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function migrationProvider(folder: string): MigrationProvider {
  return new FileMigrationProvider({ fs, path, migrationFolder: folder });
}

export const controlMigrations = (): MigrationProvider => migrationProvider(path.join(root, 'migrations/control'));
export const tenantMigrations = (): MigrationProvider => migrationProvider(path.join(root, 'migrations/tenant'));

/** The name of the newest migration a provider knows, i.e. the version a fully migrated schema has. */
export async function latestVersion(provider: MigrationProvider): Promise<string | null> {
  const names = Object.keys(await provider.getMigrations()).sort();
  return names.at(-1) ?? null;
}

function failureMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Kysely's Migrator creates its bookkeeping tables before taking its lock, so two processes
 * migrating the same schema at once (two instances booting on a fresh database) collide. Every
 * migration here therefore runs in one transaction that first takes a lock for its schema.
 */
async function lockSchema(trx: Kysely<unknown>, schemaName: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`sidechart.migrate.${schemaName}`}))`.execute(trx);
}

export async function migrateControl(control: ControlDb, provider = controlMigrations()): Promise<string[]> {
  try {
    return await (control as Kysely<unknown>).transaction().execute(async (trx) => {
      await lockSchema(trx, 'control');
      const migrator = new Migrator({ db: trx, provider, migrationTableSchema: 'control' });
      const { error, results } = await migrator.migrateToLatest();
      if (error) throw error;
      return (results ?? []).map((r) => r.migrationName);
    });
  } catch (error) {
    throw new Error(`control-plane migration failed: ${failureMessage(error)}`);
  }
}

/** Kysely's bookkeeping tables and lock row, by the names its Migrator uses. */
const MIGRATION_TABLE = 'kysely_migration';
const MIGRATION_LOCK_TABLE = 'kysely_migration_lock';
const MIGRATION_LOCK_ID = 'migration_lock';

type BookkeepingTables = {
  kysely_migration: { name: string; timestamp: string };
  kysely_migration_lock: { id: string; is_locked: number };
};

export interface TenantMigrationOptions {
  /** How long a migration waits for a lock on the clinic's tables (a busy clinic) before it fails. */
  lockTimeoutMs?: number;
}

/**
 * Creates the schema if needed and applies every pending tenant migration, all in one transaction.
 * Returns the version the schema is at afterwards.
 *
 * This is Kysely's Migrator's bookkeeping (the same `kysely_migration` and `kysely_migration_lock`
 * tables, rows and order checks) without its existence checks: the Migrator asks
 * `introspection.getTables()` whether its tables exist, which reads every table and column of the
 * whole database, several times per schema, so with N clinics each creation or migration cost O(N)
 * and N clinics O(N^2) (measured: creation fell from 3.9 to 1.2 clinics/s over the first 500 clinics,
 * an additive migration over 300 clinics took 99 s). Here the only existence check is `to_regclass`
 * on this schema's table: the cost of a clinic no longer depends on how many others there are.
 * test/tenancy/migrations.test.ts compares the catalogs of schemas built both ways.
 */
export async function migrateTenantSchema(region: Region, schemaName: string, provider: MigrationProvider, options: TenantMigrationOptions = {}): Promise<string | null> {
  if (!isTenantSchemaName(schemaName)) throw new Error(`refusing to migrate non-tenant schema "${schemaName}"`);
  const migrations = await provider.getMigrations();
  const names = Object.keys(migrations).sort();
  return region.db.transaction().execute(async (trx) => {
    await lockSchema(trx, schemaName);
    if (options.lockTimeoutMs !== undefined) await sql`select set_config('lock_timeout', ${`${options.lockTimeoutMs}ms`}, true)`.execute(trx);
    await sql`create schema if not exists ${sql.id(schemaName)}`.execute(trx);
    const db = trx.withSchema(schemaName);
    const bookkeeping = db.withTables<BookkeepingTables>();
    const exists = await sql<{ table: string | null }>`select to_regclass(${`${schemaName}.${MIGRATION_TABLE}`})::text as table`.execute(trx);
    let applied: string[] = [];
    if (exists.rows[0]?.table == null) {
      // Exactly the tables Kysely's Migrator would create (kysely/dist/migration/migrator.js).
      await db.schema.createTable(MIGRATION_TABLE).ifNotExists()
        .addColumn('name', 'varchar(255)', (col) => col.notNull().primaryKey())
        .addColumn('timestamp', 'varchar(255)', (col) => col.notNull())
        .execute();
      await db.schema.createTable(MIGRATION_LOCK_TABLE).ifNotExists()
        .addColumn('id', 'varchar(255)', (col) => col.notNull().primaryKey())
        .addColumn('is_locked', 'integer', (col) => col.notNull().defaultTo(0))
        .execute();
      await bookkeeping.insertInto(MIGRATION_LOCK_TABLE).values({ id: MIGRATION_LOCK_ID, is_locked: 0 }).execute();
    } else {
      applied = (await bookkeeping.selectFrom(MIGRATION_TABLE).select('name').orderBy('name').execute()).map((row) => row.name);
    }
    // The Migrator's own checks: nothing applied that the code no longer knows, nothing new older
    // than what has run.
    const missing = applied.find((name) => migrations[name] === undefined);
    if (missing !== undefined) throw new Error(`corrupted migrations: previously executed migration ${missing} is missing`);
    const pending = names.filter((name) => !applied.includes(name));
    const lastApplied = applied.at(-1);
    const early = lastApplied === undefined ? undefined : pending.find((name) => name < lastApplied);
    if (early !== undefined) throw new Error(`corrupted migrations: ${early} is older than ${lastApplied}, which has already run`);
    let at = Date.now();
    for (const name of pending) {
      await migrations[name]!.up(db);
      // Increasing timestamps, as the Migrator writes them.
      at = Math.max(at + 1, Date.now());
      await bookkeeping.insertInto(MIGRATION_TABLE).values({ name, timestamp: new Date(at).toISOString() }).execute();
    }
    return names.at(-1) ?? null;
  });
}

/** A clinic busy with long transactions fails this run (recorded, retried next run) rather than stalling it. */
export const DEFAULT_LOCK_TIMEOUT_MS = 5_000;

export type TenantMigrationOutcome = 'migrated' | 'failed';

export interface TenantMigrationResult {
  slug: string;
  schemaName: string;
  regionId: string;
  outcome: TenantMigrationOutcome;
  version: string | null;
  error?: string;
}

export interface MigrateTenantsOptions {
  /** Per clinic: how long to wait for a lock on its tables before recording a failure (default 5 s). */
  lockTimeoutMs?: number;
  control: ControlDb;
  regions: Map<string, Region>;
  provider: MigrationProvider;
  concurrency: number;
  /** Called once with the number of tenants that need work, then after each one. */
  onStart?: (total: number) => void;
  onResult?: (result: TenantMigrationResult) => void;
  notifyChange?: (slug: string) => Promise<void>;
}

/** Migrates every tenant that is behind the latest version (provisioning ones are finished). */
export async function migrateTenants(options: MigrateTenantsOptions): Promise<{ latest: string | null; results: TenantMigrationResult[] }> {
  const latest = await latestVersion(options.provider);
  const pending = await options.control
    .selectFrom('control.tenants')
    .select(['id', 'slug', 'schema_name', 'region_id', 'status'])
    .where('status', '!=', 'deleted')
    // An import that was killed midway is not finished here: its rows may be missing (tenants show).
    .where('building_from', 'is', null)
    .where((eb) => eb.or([eb('schema_version', 'is', null), eb('schema_version', '!=', latest ?? ''), eb('status', '=', 'provisioning')]))
    .orderBy('id')
    .execute();
  options.onStart?.(pending.length);

  // Bounded concurrency per region: each region's database gets at most `concurrency` migrations
  // at once, and one slow region does not hold up another.
  const byRegion = new Map<string, typeof pending>();
  for (const tenant of pending) {
    const queue = byRegion.get(tenant.region_id);
    if (queue) queue.push(tenant);
    else byRegion.set(tenant.region_id, [tenant]);
  }
  const results: TenantMigrationResult[] = [];
  await Promise.all(
    [...byRegion.values()].map(async (queue) => {
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < queue.length) {
          const result = await migrateOne(options, queue[next++]!);
          results.push(result);
          options.onResult?.(result);
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, queue.length)) }, worker));
    }),
  );
  return { latest, results };
}

async function migrateOne(
  options: MigrateTenantsOptions,
  tenant: { id: string; slug: string; schema_name: string; region_id: string; status: string },
): Promise<TenantMigrationResult> {
  const base = { slug: tenant.slug, schemaName: tenant.schema_name, regionId: tenant.region_id };
  const region = options.regions.get(tenant.region_id);
  try {
    if (!region) throw new Error(`region "${tenant.region_id}" is not configured on this machine`);
    const version = await migrateTenantSchema(region, tenant.schema_name, options.provider, { lockTimeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS });
    await options.control
      .updateTable('control.tenants')
      .set({
        schema_version: version,
        migration_error: null,
        updated_at: new Date(),
        // A tenant left half-created by a crash becomes usable once its schema is complete.
        ...(tenant.status === 'provisioning' ? { status: 'active' as const } : {}),
      })
      .where('id', '=', tenant.id)
      .execute();
    if (tenant.status === 'provisioning') await options.notifyChange?.(tenant.slug);
    return { ...base, outcome: 'migrated', version };
  } catch (error) {
    const message = failureMessage(error);
    await options.control
      .updateTable('control.tenants')
      .set({ migration_error: message.slice(0, 2000), updated_at: new Date() })
      .where('id', '=', tenant.id)
      .execute();
    return { ...base, outcome: 'failed', version: null, error: message };
  }
}

/**
 * Like migrateTenantSchema, but stops at `version` (a migration name the provider knows) instead of
 * the latest: an import builds the schema its rows were exported from, loads them, then migrates
 * the rest of the way. The same bookkeeping and checks (a migrateTenantSchema over the migrations
 * up to `version`), so a schema past `version` is refused, not rolled back.
 */
export async function migrateTenantSchemaTo(region: Region, schemaName: string, provider: MigrationProvider, version: string, options: TenantMigrationOptions = {}): Promise<string> {
  const migrations = await provider.getMigrations();
  if (migrations[version] === undefined) throw new Error(`no tenant migration "${version}" in this version of Sidechart`);
  const upTo = Object.fromEntries(Object.entries(migrations).filter(([name]) => name <= version));
  await migrateTenantSchema(region, schemaName, { getMigrations: async () => upTo }, options);
  return version;
}
