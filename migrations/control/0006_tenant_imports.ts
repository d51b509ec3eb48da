// A clinic being built from an archive (`sidechart tenants import`) is `provisioning` like any new
// clinic, but `sidechart migrate` must not finish it: a process killed mid-import leaves a schema
// with none or some of its rows, and finishing it would serve an empty clinic at that address.
// The archive it comes from, while the import runs (null otherwise).
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.withSchema('control').alterTable('tenants').addColumn('importing_from', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.withSchema('control').alterTable('tenants').dropColumn('importing_from').execute();
}
