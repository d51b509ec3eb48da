// Database pools and Kysely instances: one pg pool per region (a PostgreSQL cluster), shared by all
// the tenants placed there, plus the control-plane handle. Tenant code never sees these directly:
// it receives a schema-scoped handle from tenancy/scope.ts.
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import pg from 'pg';
import { Kysely, PostgresAdapter, PostgresDialect, sql } from 'kysely';
import type { ColumnType, Compilable, CompiledQuery, MigrationLockOptions } from 'kysely';
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
  /** Set while the clinic is read-only (a move between regions); null when writable. */
  read_only_since: Date | null;
  /** The archive a clinic is being imported from (tenants import); `sidechart migrate` leaves such a clinic alone. */
  building_from: ColumnType<string | null, string | null | undefined, string | null>;
  read_only_reason: string | null;
}

export type MovePhase = 'started' | 'read_only' | 'copied' | 'switched';

export interface TenantMovesTable {
  tenant_id: string;
  from_region: string;
  to_region: string;
  phase: MovePhase;
  copied_audit_id: string | null;
  started_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export interface ControlDatabase {
  'control.regions': RegionsTable;
  'control.tenants': TenantsTable;
  'control.tenant_moves': TenantMovesTable;
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

/**
 * SQL texts of reusable queries (reusableQuery below) and the statement name each is prepared
 * under: the same text always gets the same name (a hash), in every process. Bounded.
 */
const preparedNames = new LRUCache<string, string>({ max: 10_000 });

/**
 * A pg client that runs the registered texts as named prepared statements: PostgreSQL parses and
 * plans them once per connection instead of at every call (for the patient query, planning was
 * more than half of what the server spent; `npm run bench`). Each connection keeps what it
 * prepared until it closes (DB_MAX_USES bounds that). Behind PgBouncer in transaction mode this
 * needs PgBouncer ≥ 1.21 with `max_prepared_statements`; otherwise set DB_PREPARED_STATEMENTS=false.
 */
class PreparingClient extends pg.Client {
  override query(...args: unknown[]): any {
    const [text, values] = args;
    if (typeof text === 'string' && Array.isArray(values) && args.length === 2) {
      const name = preparedNames.get(text);
      if (name !== undefined) return super.query({ name, text, values } as pg.QueryConfig);
    }
    return (super.query as (...a: unknown[]) => unknown)(...args);
  }
}

export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    ...(options.db.preparedStatements ? { Client: PreparingClient } : {}),
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
  // An idle client losing its server (restart, failover) must not crash the process; nor may a
  // checked-out one between two queries (pg-pool listens only while a client is idle, and an
  // 'error' event nobody listens to ends the process). Its query, if any, is rejected as usual.
  pool.on('error', options.onError);
  pool.on('connect', (client) => client.on('error', options.onError));
  return pool;
}

export function kyselyOn<DB>(pool: pg.Pool): Kysely<DB> {
  return new Kysely<DB>({ dialect: new SidechartDialect({ pool }) });
}

export interface Databases {
  control: ControlDb;
  controlPool: pg.Pool;
  /** Every configured region's pool (pg pools connect on first use). Grows when a region is added. */
  regions: Map<string, Region>;
  /** Opens a pool for a region configured since start (`sidechart regions add`); keeps an existing one. */
  addRegion(region: { id: string; databaseUrl: string }): Region;
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
  const addRegion = (region: { id: string; databaseUrl: string }): Region => {
    const existing = regions.get(region.id);
    if (existing) return existing;
    const pool = createPool({ ...options, url: region.databaseUrl });
    const added = { id: region.id, pool, db: kyselyOn(pool) };
    regions.set(region.id, added);
    return added;
  };
  for (const region of options.regions) addRegion(region);
  const control = kyselyOn<ControlDatabase>(controlPool);
  return {
    control,
    controlPool,
    regions,
    addRegion,
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

/**
 * A query built and compiled once per handle, then run with new values: for the hot path, where
 * building and compiling a Kysely query (and the schema plugin's pass over it) cost more than the
 * database took to answer. `build` receives a stand-in for each argument; each must become exactly
 * one bound parameter of the compiled query, so the SQL text cannot depend on the values (checked
 * on the first build). Handles are the clinic opener's long-lived scoped ones (WeakMap: a handle
 * dropped from its cache takes its queries with it). The SQL is also run as a prepared statement
 * (PreparingClient above): select explicit columns, never `*`, so that a migration adding a
 * column cannot change the result type of a statement a connection has already prepared.
 */
export function reusableQuery<DB, Args extends readonly string[], Row>(build: (db: Kysely<DB>, ...args: Args) => Compilable<Row>) {
  const compiled = new WeakMap<Kysely<DB>, { query: CompiledQuery<Row>; slots: number[] }>();
  return async (db: Kysely<DB>, ...args: Args): Promise<Row[]> => {
    let entry = compiled.get(db);
    if (!entry) {
      const standIns = args.map((_arg, i) => `\u0000reusable-query-argument-${i}`) as unknown as Args;
      const query = build(db, ...standIns).compile();
      const slots = standIns.map((standIn) => {
        const at = query.parameters.indexOf(standIn);
        if (at < 0 || query.parameters.lastIndexOf(standIn) !== at) throw new Error('reusableQuery: each argument must be bound exactly once');
        return at;
      });
      entry = { query, slots };
      compiled.set(db, entry);
      if (!preparedNames.has(query.sql)) preparedNames.set(query.sql, `sidechart_${createHash('sha256').update(query.sql).digest('hex').slice(0, 24)}`);
    }
    const parameters = [...entry.query.parameters];
    entry.slots.forEach((at, i) => {
      parameters[at] = args[i];
    });
    return (await db.executeQuery<Row>({ ...entry.query, parameters })).rows;
  };
}

/** PostgreSQL SQLSTATEs that mean "the database is not there right now", not "the query is wrong". */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300', '57014', '40P01']);
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Connection ended unexpectedly',
  'terminating connection',
  'is not currently accepting connections',
  'the database system is starting up',
  'the database system is shutting down',
];

/**
 * True when an error (or anything in its cause chain) says the database could not be reached or
 * dropped the connection: a restart, a killed backend, a full server, a pool wait that ran out, a
 * statement timeout. Such requests get a 503 and a Retry-After (infra/http.ts), not a 500.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let current = error, depth = 0; current !== null && typeof current === 'object' && depth < 5; current = (current as { cause?: unknown }).cause, depth++) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && (code.startsWith('08') || UNAVAILABLE_STATES.has(code) || UNAVAILABLE_NODE_CODES.has(code))) return true;
    if (typeof message === 'string' && UNAVAILABLE_MESSAGES.some((m) => message.includes(m))) return true;
  }
  return false;
}
