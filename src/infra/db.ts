// Database pools and Kysely instances: one pg pool per region (a PostgreSQL cluster), shared by all
// the tenants placed there, plus the control-plane handle. Tenant code never sees these directly:
// it receives a schema-scoped handle from tenancy/scope.ts.
import pg from 'pg';
import { Kysely, PostgresAdapter, PostgresDialect, sql } from 'kysely';
import type { ColumnType, MigrationLockOptions } from 'kysely';
import type { Config } from '../config.ts';

export interface RegionsTable {
  id: string;
  accepting_tenants: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date>;
}

export type TenantStatus = 'provisioning' | 'active' | 'suspended' | 'deleted';

export interface TenantsTable {
  id: ColumnType<string, string, never>; // bigint, kept as string like every pg bigint
  slug: string;
  display_name: string;
  region_id: string;
  schema_name: string;
  status: TenantStatus;
  schema_version: string | null;
  migration_error: string | null;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date>;
  suspended_at: Date | null;
  deleted_at: Date | null;
  purge_after: Date | null;
}

export interface ControlDatabase {
  'control.regions': RegionsTable;
  'control.tenants': TenantsTable;
}

export type ControlDb = Kysely<ControlDatabase>;

/**
 * Kysely's PostgresAdapter takes one advisory lock per database for migrations, which would
 * serialise every tenant's migration. Tenant migrations always run inside their own transaction,
 * so a transaction-level lock keyed on the migration table's schema is enough and lets tenants
 * migrate in parallel while two runs on the same tenant still exclude each other.
 */
class SchemaLockingAdapter extends PostgresAdapter {
  override async acquireMigrationLock(db: Kysely<any>, options: MigrationLockOptions): Promise<void> {
    const key = `${options.lockTableSchema ?? 'public'}.${options.lockTable}`;
    await sql`select pg_advisory_xact_lock(hashtext(${key}))`.execute(db);
  }

  override async releaseMigrationLock(): Promise<void> {
    // Released with the transaction.
  }
}

class SidechartDialect extends PostgresDialect {
  override createAdapter(): PostgresAdapter {
    return new SchemaLockingAdapter();
  }
}

export interface Region {
  id: string;
  pool: pg.Pool;
  /** Unscoped: only for provisioning and migrations. Requests get tenancy/scope.ts handles. */
  db: Kysely<unknown>;
}

export interface PoolOptions {
  url: string;
  applicationName: string;
  db: Config['db'];
  onError: (error: Error) => void;
}

export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.db.poolMax,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: options.db.connectionTimeoutMs,
    maxLifetimeSeconds: options.db.maxLifetimeSeconds,
    // Catalog caches grow with every clinic a backend serves (bench: backend-memory); recycle.
    ...(options.db.maxUses > 0 ? { maxUses: options.db.maxUses } : {}),
    application_name: options.applicationName,
    statement_timeout: options.db.statementTimeoutMs,
  });
  // An idle client losing its server (restart, failover) must not crash the process.
  pool.on('error', options.onError);
  return pool;
}

export function kyselyOn<DB>(pool: pg.Pool): Kysely<DB> {
  return new Kysely<DB>({ dialect: new SidechartDialect({ pool }) });
}

export interface Databases {
  control: ControlDb;
  controlPool: pg.Pool;
  regions: Map<string, Region>;
  close(): Promise<void>;
}

/** Opens the control pool and one pool per configured region (`local` shares the control pool). */
export function openDatabases(options: {
  controlUrl: string;
  regions: readonly { id: string; databaseUrl: string }[];
  db: Config['db'];
  applicationName: string;
  onError: (error: Error) => void;
}): Databases {
  const controlPool = createPool({ ...options, url: options.controlUrl });
  const regions = new Map<string, Region>();
  regions.set('local', { id: 'local', pool: controlPool, db: kyselyOn(controlPool) });
  for (const region of options.regions) {
    const pool = createPool({ ...options, url: region.databaseUrl });
    regions.set(region.id, { id: region.id, pool, db: kyselyOn(pool) });
  }
  const control = kyselyOn<ControlDatabase>(controlPool);
  return {
    control,
    controlPool,
    regions,
    async close() {
      // Kysely.destroy() ends the pool it was given; end each pool exactly once.
      for (const region of regions.values()) {
        if (region.pool !== controlPool) await region.pool.end();
      }
      await controlPool.end();
    },
  };
}

/** Runs `select 1` with a deadline, for readiness checks. Never throws. */
export async function ping(pool: pg.Pool, timeoutMs: number): Promise<boolean> {
  const attempt = pool.query('select 1').then(() => true, () => false);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([attempt, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
