// A clinic can be read-only for a few minutes while it moves between regions (issue 12): staff can
// still open patients, nothing else changes. Two layers:
//
// - The app (this plugin, once for every clinic host): while the clinic's directory record says
//   read-only (`control.tenants.read_only_since`, set by TenantService.setReadOnly and announced
//   with NOTIFY), every unsafe request (POST, PUT, PATCH, DELETE) and every GET whose route says it
//   writes (`config.whileReadOnly`: the sign-in steps that store a session or a user) is refused
//   with one coded 503 page before anything runs. Reads that would normally write skip the write
//   (the session's last-seen time, the Cliniko refresh of the patient page: see auth/session and
//   patients/sync.ts); the patient-view audit event is still written.
// - The database (freezeSchema, installed by the move on the source schema): triggers that refuse
//   every write with SQLSTATE 25006 except inserts into audit_events, which the move copies after
//   its switch. A write that slipped past the app gets the same 503 page, not a 500.
import fp from 'fastify-plugin';
import { sql, type Kysely } from 'kysely';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppError } from '../infra/errors.ts';
import type { TenantRecord } from './directory.ts';
import { isTenantSchemaName } from './clinic.ts';
import { tenancyErrors, type ReadOnlyRefusal } from './errors.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * For a read-only clinic: a GET that writes to the clinic's schema names what it does, to be
     * refused like the unsafe methods (which always are; this only chooses their words).
     */
    whileReadOnly?: ReadOnlyRefusal;
  }
}

/** PostgreSQL's read_only_sql_transaction: what the frozen schema's triggers raise. */
export const READ_ONLY_SQLSTATE = '25006';

/** The one table a frozen schema still takes inserts into. */
const APPEND_ONLY_TABLE = 'audit_events';
const REFUSE_FUNCTION = 'sidechart_refuse_write';
const TRIGGER = 'sidechart_read_only';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function isReadOnly(tenant: TenantRecord | null): boolean {
  return tenant !== null && tenant.readOnlySince !== null;
}

/** What this request would be refused as while its clinic is read-only, or null if it may run. */
export function readOnlyRefusal(method: string, whileReadOnly: ReadOnlyRefusal | undefined): ReadOnlyRefusal | null {
  if (!SAFE_METHODS.has(method.toUpperCase())) return whileReadOnly ?? 'change';
  return whileReadOnly ?? null;
}

/** True when the error (or one of its causes) is PostgreSQL refusing a write as read-only. */
export function isReadOnlyViolation(error: unknown): boolean {
  for (let current = error, depth = 0; current !== null && typeof current === 'object' && depth < 5; current = (current as { cause?: unknown }).cause, depth++) {
    if ((current as { code?: unknown }).code === READ_ONLY_SQLSTATE) return true;
  }
  return false;
}

/** The error handler's reading of a refused database write (infra/http.ts). */
function readOnlyReading(error: unknown): AppError | null {
  return isReadOnlyViolation(error) ? tenancyErrors.clinicReadOnly('change') : null;
}

async function readOnly(app: FastifyInstance): Promise<void> {
  app.readErrorsWith(readOnlyReading);
  // After tenancy and sessions (registered after them): the page names the clinic and, for
  // someone signed in, keeps the chrome; before any route or body handling runs.
  // A callback hook, not an async one: every request of every clinic passes here, and for all but
  // a clinic being moved it is one property check (no promise per request on the hot path).
  app.addHook('onRequest', (request: FastifyRequest, _reply, done) => {
    if (!isReadOnly(request.tenant)) return done();
    const refused = readOnlyRefusal(request.method, request.routeOptions.config.whileReadOnly);
    if (refused === null) return done();
    request.log.info({ event: 'read_only_refused', refused, method: request.method, route: request.routeOptions.url ?? null }, 'refused: clinic is read-only');
    done(tenancyErrors.clinicReadOnly(refused));
  });
}

export const readOnlyPlugin = fp(readOnly, { name: 'sidechart-read-only', fastify: '5.x', dependencies: ['sidechart-tenancy', 'sidechart-sessions'] });

type Db = Kysely<any>;

function checkedSchema(schema: string): string {
  if (!isTenantSchemaName(schema)) throw new Error(`refusing to change the triggers of non-tenant schema "${schema}"`);
  return schema;
}

/** Runs `work` in the caller's transaction, or in one of its own: all the triggers or none. */
function inTransaction(db: Db, work: (trx: Db) => Promise<void>): Promise<void> {
  return db.isTransaction ? work(db) : db.transaction().execute(work);
}

/**
 * Makes a clinic's schema refuse writes at the database: a trigger function inside the schema
 * itself (never `public`) raising 25006, and statement-level triggers on every table the catalog
 * lists there, for INSERT, UPDATE, DELETE and TRUNCATE, except audit_events, which still takes
 * INSERTs. Idempotent (run again, it also covers tables created since). Taking each table's trigger
 * lock waits for writes in flight on it.
 */
export async function freezeSchema(db: Db, schema: string): Promise<void> {
  checkedSchema(schema);
  await inTransaction(db, async (trx) => {
    const fn = sql.id(schema, REFUSE_FUNCTION);
    await sql`
      create or replace function ${fn}() returns trigger language plpgsql as $body$
      begin
        raise exception 'clinic schema %.% is read-only while the clinic is moved', tg_table_schema, tg_table_name
          using errcode = 'read_only_sql_transaction';
      end
      $body$`.execute(trx);
    const tables = await sql<{ name: string }>`
      select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = ${schema} and c.relkind in ('r', 'p') and not c.relispartition
      order by c.relname`.execute(trx);
    for (const { name } of tables.rows) {
      const table = sql.id(schema, name);
      const events = name === APPEND_ONLY_TABLE ? sql`update or delete or truncate` : sql`insert or update or delete or truncate`;
      await sql`drop trigger if exists ${sql.id(TRIGGER)} on ${table}`.execute(trx);
      await sql`create trigger ${sql.id(TRIGGER)} before ${events} on ${table} for each statement execute function ${fn}()`.execute(trx);
    }
  });
}

/** Undoes freezeSchema: the function and, with it, every trigger that calls it. Idempotent. */
export async function thawSchema(db: Db, schema: string): Promise<void> {
  checkedSchema(schema);
  await inTransaction(db, async (trx) => {
    await sql`drop function if exists ${sql.id(schema, REFUSE_FUNCTION)}() cascade`.execute(trx);
  });
}
