// Staff invitations (src/auth/invitations.ts): an admin invites an e-mail address with a role; the
// link carries a random 256-bit token of which only a hash is stored here, usable once, until it
// expires or is revoked. And the admin changes to staff become audit actions.
//
// audit_events.action has a check constraint listing the allowed actions (0004). It is widened by
// union with what it allows now (as 0008 does), never rewritten from a fixed list, so migrations
// adding actions of their own cannot drop each other's. down() removes only the values added here.
import { sql, type Kysely } from 'kysely';
import { tenantSchema as schemaOf } from '../tenant-schema.ts';
import { addAuditActions, removeAuditActions } from '../audit-actions.ts';

const ADDED = [
  'staff_invited',
  'invitation_revoked',
  'invitation_accepted',
  'staff_role_changed',
  'staff_disabled',
  'staff_enabled',
  'staff_removed',
];

export async function up(db: Kysely<any>): Promise<void> {
  const schema = schemaOf(db, '0006_invitations');
  await db.schema
    .createTable('invitations')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('email', 'text', (c) => c.notNull().check(sql`email = lower(email) and length(email) between 3 and 320`))
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('admin', 'staff')`))
    // sha256 of the clinic and the token, hex: the token itself is never stored.
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    // No foreign key: the invitation still says who sent it after that admin is removed.
    .addColumn('invited_by_user_id', 'bigint')
    .addColumn('invited_by_name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('accepted_at', 'timestamptz')
    .addColumn('accepted_user_id', 'bigint')
    .addColumn('revoked_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('invitations_email_idx').on('invitations').column('email').execute();

  await addAuditActions(db, schema, '0006_invitations', ADDED);
}

export async function down(db: Kysely<any>): Promise<void> {
  const schema = schemaOf(db, '0006_invitations');
  // Fails while staff events exist: the trail is append-only, so they cannot be dropped to fit.
  await removeAuditActions(db, schema, '0006_invitations', ADDED);
  await db.schema.dropTable('invitations').execute();
}
