// The admin area records who read the audit trail: two more values for audit_events.action, whose
// check constraint (0004) lists the allowed actions.
//
// The constraint is widened by union with what it allows now, not rewritten from a fixed list: other
// migrations add actions of their own (staff changes...), and a fixed list here would silently drop
// theirs if it ran after them. down() removes only the values added here.
import type { Kysely } from 'kysely';
import { tenantSchema as schemaOf } from '../tenant-schema.ts';
import { addAuditActions, removeAuditActions } from '../audit-actions.ts';

const ADDED = ['audit_viewed', 'audit_exported'];

export async function up(db: Kysely<any>): Promise<void> {
  const schema = schemaOf(db, '0008_admin_audit_actions');
  await addAuditActions(db, schema, '0008_admin_audit_actions', ADDED);
}

export async function down(db: Kysely<any>): Promise<void> {
  const schema = schemaOf(db, '0008_admin_audit_actions');
  await removeAuditActions(db, schema, '0008_admin_audit_actions', ADDED);
}
