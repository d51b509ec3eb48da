// Hand-offs from the auth host (where platform providers call back) to a clinic's host: a random
// 256-bit token of which only the SHA-256 is stored, bound to one tenant, valid for a minute, and
// consumed once with a single conditional UPDATE.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .withSchema('control')
    .createTable('handoffs')
    .addColumn('id_hash', 'text', (c) => c.primaryKey().check(sql`id_hash ~ '^[0-9a-f]{64}$'`))
    .addColumn('tenant_id', 'bigint', (c) => c.notNull().references('control.tenants.id').onDelete('cascade'))
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .execute();
  // Expired rows are swept as new hand-offs are created.
  await db.schema.withSchema('control').createIndex('handoffs_expires_at_idx').on('handoffs').column('expires_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.withSchema('control').dropTable('handoffs').execute();
}
