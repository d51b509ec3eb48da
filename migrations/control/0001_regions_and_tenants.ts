// Control plane: the regions (PostgreSQL clusters; connection details stay in configuration) and
// the tenant directory that every request consults through an in-process cache.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createSchema('control').ifNotExists().execute();
  await db.schema
    .withSchema('control')
    .createTable('regions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('accepting_tenants', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .withSchema('control')
    .createTable('tenants')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('slug', 'text', (c) => c.notNull().unique().check(sql`slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'`))
    .addColumn('display_name', 'text', (c) => c.notNull())
    .addColumn('region_id', 'text', (c) => c.notNull().references('control.regions.id'))
    .addColumn('schema_name', 'text', (c) => c.notNull().unique())
    .addColumn('status', 'text', (c) =>
      c.notNull().defaultTo('provisioning').check(sql`status in ('provisioning', 'active', 'suspended', 'deleted')`),
    )
    .addColumn('schema_version', 'text')
    .addColumn('migration_error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('suspended_at', 'timestamptz')
    .addColumn('deleted_at', 'timestamptz')
    .addColumn('purge_after', 'timestamptz')
    .execute();
  // `sidechart migrate` looks for tenants behind the latest version: keep that one cheap query.
  await db.schema.withSchema('control').createIndex('tenants_schema_version_idx').on('tenants').columns(['schema_version']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.withSchema('control').dropTable('tenants').execute();
  await db.schema.withSchema('control').dropTable('regions').execute();
}
