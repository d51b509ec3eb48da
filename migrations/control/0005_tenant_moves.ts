// A clinic moving between regions (issue 12): one row while the move is under way, naming where
// it comes from, where it goes and the last step that completed, so that an interrupted move can
// be resumed or rolled back by one command (`sidechart tenants move <slug> --resume|--rollback`).
// Deleted when the move finishes or is rolled back.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .withSchema('control')
    .createTable('tenant_moves')
    .addColumn('tenant_id', 'bigint', (c) => c.primaryKey().references('control.tenants.id').onDelete('cascade'))
    .addColumn('from_region', 'text', (c) => c.notNull().references('control.regions.id'))
    .addColumn('to_region', 'text', (c) => c.notNull().references('control.regions.id'))
    .addColumn('phase', 'text', (c) => c.notNull().check(sql`phase in ('started', 'read_only', 'copied', 'switched')`))
    // The largest audit event id copied: later ones (views while read-only) are carried over at the switch.
    .addColumn('copied_audit_id', 'bigint')
    .addColumn('started_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.withSchema('control').dropTable('tenant_moves').execute();
}
