// Connecting and disconnecting Cliniko from the admin page (src/admin/cliniko-routes.ts) are audit
// events, and so is the clinic's creation by sign-up (src/signup/): three more audit actions.
import type { Kysely } from 'kysely';
import { tenantSchema as schemaOf } from '../tenant-schema.ts';
import { addAuditActions, removeAuditActions } from '../audit-actions.ts';

const ADDED = ['cliniko_connected', 'cliniko_disconnected', 'clinic_created'];

export async function up(db: Kysely<any>): Promise<void> {
  await addAuditActions(db, schemaOf(db, '0009_cliniko_admin_actions'), '0009_cliniko_admin_actions', ADDED);
}

export async function down(db: Kysely<any>): Promise<void> {
  await removeAuditActions(db, schemaOf(db, '0009_cliniko_admin_actions'), '0009_cliniko_admin_actions', ADDED);
}
