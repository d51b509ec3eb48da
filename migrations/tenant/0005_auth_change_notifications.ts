// Every change that can end or alter a signed-in session is announced on the channel
// `sidechart_auth_changed`, whoever makes it (an app instance, the CLI, an SRE with psql): instances
// cache sessions in memory (src/auth/session/cache.ts) and drop what a notification names. Sent
// by statement-level triggers, so a sweep of a thousand expired sessions is one notification, and
// delivered by PostgreSQL only when the transaction commits.
//
// Payload: `<schema> s <hash>,<hash>…` for sessions (a hash of the session ID: the ID itself is a
// bearer secret and any role that can connect may LISTEN), `<schema> u <id>,<id>…` for users, and
// `<schema> *` for the whole clinic (its session settings, a truncate, or too many rows to list).
import { sql, type Kysely } from 'kysely';
import { tenantSchema } from '../tenant-schema.ts';

// Function names carry the schema's name. PostgreSQL resolves a function name (CREATE TRIGGER ...
// EXECUTE FUNCTION s.f) by listing every function of that name in every schema: with one `f` per
// clinic, creating a clinic's triggers took time in proportion to the clinics already there
// (46 ms per trigger against 0.6 ms with a unique name, on a bench database of clinics), and
// provisioning slowed from 16 to 8.5 clinics/s over 10,000. 0004's audit function is renamed here
// for the same reason.
const rowsFunction = (schema: string) => `notify_auth_rows_${schema}`;
const clinicFunction = (schema: string) => `notify_auth_clinic_${schema}`;
const auditFunction = (schema: string) => `audit_events_append_only_${schema}`;

/** More rows than this in one statement: the whole clinic is announced instead of each row. */
const MAX_LISTED = 50;

export async function up(db: Kysely<any>): Promise<void> {
  const schema = tenantSchema(db, '0005_auth_change_notifications');
  const rows = sql.id(schema, rowsFunction(schema));
  const clinic = sql.id(schema, clinicFunction(schema));
  await sql`alter function ${sql.id(schema, 'audit_events_append_only')}() rename to ${sql.id(auditFunction(schema))}`.execute(db);

  // TG_ARGV[0] says what the rows are: 's' sessions (hashed id), 'u' users (id).
  await sql`
    create function ${rows}() returns trigger language plpgsql as $$
    declare
      listed text;
      n integer;
    begin
      if tg_argv[0] = 's' then
        select count(*), string_agg(left(encode(sha256(convert_to(id, 'UTF8')), 'hex'), 32), ',') into n, listed from old_rows;
      else
        select count(*), string_agg(id::text, ',') into n, listed from old_rows;
      end if;
      if n = 0 then
        return null;
      elsif n > ${sql.raw(String(MAX_LISTED))} then
        perform pg_notify('sidechart_auth_changed', tg_table_schema || ' *');
      else
        perform pg_notify('sidechart_auth_changed', tg_table_schema || ' ' || tg_argv[0] || ' ' || listed);
      end if;
      return null;
    end
    $$`.execute(db);
  await sql`
    create function ${clinic}() returns trigger language plpgsql as $$
    begin
      perform pg_notify('sidechart_auth_changed', tg_table_schema || ' *');
      return null;
    end
    $$`.execute(db);

  const sessions = sql.id(schema, 'sessions');
  const users = sql.id(schema, 'users');
  const settings = sql.id(schema, 'auth_settings');
  // A transition table allows one event per trigger, hence an update and a delete trigger each.
  await sql`create trigger sessions_updated after update on ${sessions} referencing old table as old_rows for each statement execute function ${rows}('s')`.execute(db);
  await sql`create trigger sessions_deleted after delete on ${sessions} referencing old table as old_rows for each statement execute function ${rows}('s')`.execute(db);
  await sql`create trigger sessions_truncated after truncate on ${sessions} for each statement execute function ${clinic}()`.execute(db);
  await sql`create trigger users_updated after update on ${users} referencing old table as old_rows for each statement execute function ${rows}('u')`.execute(db);
  await sql`create trigger users_deleted after delete on ${users} referencing old table as old_rows for each statement execute function ${rows}('u')`.execute(db);
  await sql`create trigger users_truncated after truncate on ${users} for each statement execute function ${clinic}()`.execute(db);
  await sql`create trigger auth_settings_updated after update or delete or truncate on ${settings} for each statement execute function ${clinic}()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  const schema = tenantSchema(db, '0005_auth_change_notifications');
  for (const [table, trigger] of [
    ['sessions', 'sessions_updated'],
    ['sessions', 'sessions_deleted'],
    ['sessions', 'sessions_truncated'],
    ['users', 'users_updated'],
    ['users', 'users_deleted'],
    ['users', 'users_truncated'],
    ['auth_settings', 'auth_settings_updated'],
  ] as const) {
    await sql`drop trigger ${sql.id(trigger)} on ${sql.id(schema, table)}`.execute(db);
  }
  await sql`drop function ${sql.id(schema, rowsFunction(schema))}()`.execute(db);
  await sql`drop function ${sql.id(schema, clinicFunction(schema))}()`.execute(db);
  await sql`alter function ${sql.id(schema, auditFunction(schema))}() rename to ${sql.id('audit_events_append_only')}`.execute(db);
}
