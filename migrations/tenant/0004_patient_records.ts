// What the patient button needs in each clinic's schema: the Cliniko record's page columns and sync
// state on `patients`, Sidechart's own notes, the append-only audit trail, and the clinic's Cliniko
// connection (API key sealed by src/infra/crypto.ts, never in plain text).
//
// Tables are created unqualified (the runner scopes the handle with withSchema); the trigger and its
// function are raw SQL, so they name the schema explicitly (../tenant-schema.ts says why).
import { sql, type Kysely } from 'kysely';
import { tenantSchema as schemaOf } from '../tenant-schema.ts';

const tenantSchema = (db: Kysely<any>) => schemaOf(db, '0004_patient_records');

export async function up(db: Kysely<any>): Promise<void> {
  const schema = tenantSchema(db);

  // Page columns (the rest is read from `data`, the whole Cliniko JSON) and the sync state.
  await db.schema
    .alterTable('patients')
    .addColumn('preferred_first_name', 'text')
    .addColumn('date_of_birth', 'text') // Cliniko's YYYY-MM-DD; a pg `date` would come back as a local-midnight Date
    .addColumn('archived_at', 'timestamptz')
    .addColumn('deleted_at', 'timestamptz')
    .addColumn('merged_at', 'timestamptz')
    .addColumn('merged_into_id', 'bigint')
    .addColumn('cliniko_updated_at', 'timestamptz')
    .addColumn('sync_attempted_at', 'timestamptz')
    .addColumn('sync_error', 'text')
    .addColumn('sync_error_message', 'text')
    .execute();
  await db.schema.createIndex('patients_name_idx').on('patients').columns(['last_name', 'first_name']).execute();

  await db.schema
    .createTable('patient_notes')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('patient_id', 'bigint', (c) => c.notNull().references('patients.cliniko_id').onDelete('cascade'))
    // The author's name is kept with the note: it must still read right after the user is removed.
    .addColumn('author_user_id', 'bigint', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('author_name', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull().check(sql`char_length(body) between 1 and 5000`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('patient_notes_patient_idx').on('patient_notes').columns(['patient_id', 'created_at']).execute();

  // No foreign keys: an audit row must outlive the user and the patient it names, and `on delete
  // set null` would be an UPDATE, which the trigger below refuses.
  await db.schema
    .createTable('audit_events')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('user_id', 'bigint')
    .addColumn('patient_id', 'bigint')
    .addColumn('action', 'text', (c) => c.notNull().check(sql`action in ('view', 'denied', 'note_added')`))
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('detail', 'text')
    .addColumn('client_ip', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('sec_fetch_site', 'text')
    .addColumn('referrer', 'text')
    .addColumn('request_id', 'text')
    .execute();
  await db.schema.createIndex('audit_events_occurred_idx').on('audit_events').column('occurred_at').execute();
  await db.schema.createIndex('audit_events_patient_idx').on('audit_events').columns(['patient_id', 'occurred_at']).execute();

  // Append-only for the application: rows can be inserted and read, never changed or removed.
  const fn = sql.id(schema, 'audit_events_append_only');
  const table = sql.id(schema, 'audit_events');
  await sql`
    create function ${fn}() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_events is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
    end
    $$`.execute(db);
  await sql`create trigger audit_events_no_change before update or delete on ${table} for each row execute function ${fn}()`.execute(db);
  await sql`create trigger audit_events_no_truncate before truncate on ${table} for each statement execute function ${fn}()`.execute(db);

  // At most one row: the clinic's Cliniko account.
  await db.schema
    .createTable('cliniko_connection')
    .addColumn('id', 'boolean', (c) => c.primaryKey().defaultTo(true).check(sql`id`))
    .addColumn('api_key_sealed', 'text', (c) => c.notNull())
    .addColumn('shard', 'text', (c) => c.notNull().check(sql`shard ~ '^[a-z]{2}[0-9]{1,2}$'`))
    .addColumn('account_id', 'bigint', (c) => c.notNull())
    .addColumn('account_subdomain', 'text')
    .addColumn('account_name', 'text')
    .addColumn('cliniko_user_id', 'bigint')
    .addColumn('cliniko_user_name', 'text')
    .addColumn('connected_by', 'text', (c) => c.notNull())
    .addColumn('connected_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('key_sealed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  const schema = tenantSchema(db);
  await db.schema.dropTable('cliniko_connection').execute();
  await db.schema.dropTable('audit_events').execute();
  await sql`drop function ${sql.id(schema, 'audit_events_append_only')}()`.execute(db);
  await db.schema.dropTable('patient_notes').execute();
  await db.schema.dropIndex('patients_name_idx').execute();
  await db.schema
    .alterTable('patients')
    .dropColumn('preferred_first_name')
    .dropColumn('date_of_birth')
    .dropColumn('archived_at')
    .dropColumn('deleted_at')
    .dropColumn('merged_at')
    .dropColumn('merged_into_id')
    .dropColumn('cliniko_updated_at')
    .dropColumn('sync_attempted_at')
    .dropColumn('sync_error')
    .dropColumn('sync_error_message')
    .execute();
}
