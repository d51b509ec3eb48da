// Sign-in per clinic: its users, their SSO identities, how the clinic lets them sign in, and their
// sessions. Sessions live here, in the clinic's schema, so they stay in the clinic's region.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    // Stored lowercased, so the unique constraint is case-insensitive in effect.
    .addColumn('email', 'text', (c) => c.notNull().unique().check(sql`email = lower(email) and length(email) between 3 and 320`))
    .addColumn('name', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('role', 'text', (c) => c.notNull().defaultTo('staff').check(sql`role in ('admin', 'staff')`))
    .addColumn('disabled', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('password_hash', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // SSO users are identified by (issuer, subject), never by e-mail alone.
  await db.schema
    .createTable('user_identities')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('user_id', 'bigint', (c) => c.notNull())
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('email', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_used_at', 'timestamptz')
    .addUniqueConstraint('user_identities_issuer_subject_key', ['issuer', 'subject'])
    .addForeignKeyConstraint('user_identities_user_id_fkey', ['user_id'], 'users', ['id'], (fk) => fk.onDelete('cascade'))
    .execute();
  await db.schema.createIndex('user_identities_user_id_idx').on('user_identities').column('user_id').execute();

  // One row: how this clinic's staff sign in.
  await db.schema
    .createTable('auth_settings')
    .addColumn('id', 'boolean', (c) => c.primaryKey().defaultTo(true).check(sql`id`))
    .addColumn('password_enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('idle_timeout_minutes', 'integer', (c) => c.notNull().defaultTo(30).check(sql`idle_timeout_minutes between 1 and 1440`))
    .addColumn('absolute_timeout_minutes', 'integer', (c) => c.notNull().defaultTo(480).check(sql`absolute_timeout_minutes between 1 and 10080`))
    .addColumn('allowed_email_domains', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('platform_providers', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('oidc_issuer', 'text')
    .addColumn('oidc_client_id', 'text')
    .addColumn('oidc_client_secret_sealed', 'text')
    .addColumn('oidc_admit', 'text', (c) => c.notNull().defaultTo('invited').check(sql`oidc_admit in ('invited', 'domain')`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.insertInto('auth_settings').defaultValues().execute();

  // Server-side sessions (@fastify/session with src/auth/session-store.ts). The id carries the
  // region and schema it lives in; expires_at is the hard limit the store enforces and sweeps by.
  await db.schema
    .createTable('sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('data', 'jsonb', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('sessions_expires_at_idx').on('sessions').column('expires_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('sessions').execute();
  await db.schema.dropTable('auth_settings').execute();
  await db.schema.dropTable('user_identities').execute();
  await db.schema.dropTable('users').execute();
}
