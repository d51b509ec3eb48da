// The clinic home lists the patients a user opened recently: the newest view events of one user,
// read newest first through this index instead of scanning the clinic's whole audit trail. A plain
// index needs no raw SQL, so nothing here names the schema (the runner's withSchema handle
// qualifies it, and index names are local to the clinic's schema).
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('audit_events_user_occurred_idx').on('audit_events').columns(['user_id', 'occurred_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('audit_events_user_occurred_idx').execute();
}
