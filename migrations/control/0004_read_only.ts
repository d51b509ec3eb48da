// A clinic can be read-only for a while (moving it between regions, issue 12): since when, and
// why, as staff are told on every page. Null means writable.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .withSchema('control')
    .alterTable('tenants')
    .addColumn('read_only_since', 'timestamptz')
    .addColumn('read_only_reason', 'text', (c) => c.check(sql`char_length(read_only_reason) <= 200`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.withSchema('control').alterTable('tenants').dropColumn('read_only_reason').dropColumn('read_only_since').execute();
}
