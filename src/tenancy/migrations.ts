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

/**
 * Creates the schema if needed and applies every pending tenant migration, all in one transaction.
 * Returns the version the schema is at afterwards.
 */
export async function migrateTenantSchema(region: Region, schemaName: string, provider: MigrationProvider): Promise<string | null> {
  if (!isTenantSchemaName(schemaName)) throw new Error(`refusing to migrate non-tenant schema "${schemaName}"`);
  return region.db.transaction().execute(async (trx) => {
    await lockSchema(trx, schemaName);
    await sql`create schema if not exists ${sql.id(schemaName)}`.execute(trx);
    const migrator = new Migrator({ db: trx.withSchema(schemaName), provider, migrationTableSchema: schemaName });
    const { error } = await migrator.migrateToLatest();
    if (error) throw error;
    return latestVersion(provider);
  });
}

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
    .where((eb) => eb.or([eb('schema_version', 'is', null), eb('schema_version', '!=', latest ?? ''), eb('status', '=', 'provisioning')]))
    .orderBy('id')
    .execute();
  options.onStart?.(pending.length);

  const results: TenantMigrationResult[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < pending.length) {
      const tenant = pending[next++]!;
      const result = await migrateOne(options, tenant);
      results.push(result);
      options.onResult?.(result);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, pending.length)) }, worker));
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
    const version = await migrateTenantSchema(region, tenant.schema_name, options.provider);
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
