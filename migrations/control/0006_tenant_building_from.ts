// A clinic being built from more than its migrations (an archive: `sidechart tenants import`; a
// sign-up: its first admin) is `provisioning` like any new clinic, but `sidechart migrate` must
// not finish it: a process killed midway leaves a schema without its rows or its admin, and
// finishing it would serve an empty or adminless clinic at that address. What it is being built
// from, while that runs (null otherwise).
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.withSchema('control').alterTable('tenants').addColumn('building_from', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.withSchema('control').alterTable('tenants').dropColumn('building_from').execute();
}
