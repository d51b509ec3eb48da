// Changing the clinic's sign-in settings from the admin page (src/admin/sign-in-routes.ts) is an
// audit event: one more audit action.
import type { Kysely } from 'kysely';
import { tenantSchema as schemaOf } from '../tenant-schema.ts';
import { addAuditActions, removeAuditActions } from '../audit-actions.ts';

const ADDED = ['sign_in_settings_changed'];

export async function up(db: Kysely<any>): Promise<void> {
  await addAuditActions(db, schemaOf(db, '0010_sign_in_settings_action'), '0010_sign_in_settings_action', ADDED);
}

export async function down(db: Kysely<any>): Promise<void> {
  await removeAuditActions(db, schemaOf(db, '0010_sign_in_settings_action'), '0010_sign_in_settings_action', ADDED);
}
