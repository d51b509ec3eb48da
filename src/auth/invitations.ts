// Staff invitations. An admin invites an e-mail address with a role (src/admin/staff-routes.ts);
// the invitee opens the link on the clinic's host and either sets a name and password (clinics
// that use passwords) or, at a clinic that signs in only with single sign-on, sets a name and is
// sent to sign in with it: the invitation then creates the user with no password, and the SSO
// admission rule (sso/admission.ts: a user with that e-mail and no identity at the issuer is
// "invited") links the first sign-in to it. There is one notion of "invited" either way: a user row.
//
// The token is 256 random bits, in the link only. The database keeps a SHA-256 of the clinic's id
// and the token, so a leaked table gives no usable link and a token works at its own clinic only
// (it is also looked up in that clinic's schema alone). It is used once (accepting locks the row and
// marks it in the same transaction that creates the user), expires (INVITATION_TTL_HOURS), and is
// revoked when the admin revokes it or invites the same address again.
//
// The link is /invitations/accept?token=...: request logs redact a `token` query parameter
// (infra/log.ts), which they would not do for a path segment.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { ColumnType, Generated, Selectable } from 'kysely';
import { createHash, randomBytes } from 'node:crypto';
import { sendPage } from '../infra/html.ts';
import { isUniqueViolation } from '../infra/errors.ts';
import { requireClinic, requireTenant } from '../tenancy/plugin.ts';
import type { TenantDb } from '../tenancy/tenant-database.ts';
import { recordAudit, requestOrigin, type RequestOrigin } from '../patients/audit.ts';
import { csrfToken } from './csrf.ts';
import { checkNewPassword, PASSWORD_MAX_LENGTH, type PasswordHasher } from './password/hasher.ts';
import { signIn } from './session/sign-in.ts';
import { getAuthSettings } from './settings.ts';
import { ssoButtons } from './sign-in-page.ts';
import type { Role } from './tables.ts';
import { findUserByEmail, normalizeEmail, type SessionUser } from './users.ts';

export interface InvitationsTable {
  id: Generated<string>;
  email: string;
  role: Role;
  token_hash: string;
  invited_by_user_id: string | null;
  invited_by_name: string;
  created_at: ColumnType<Date, never, never>;
  expires_at: Date;
  accepted_at: ColumnType<Date | null, never, Date>;
  accepted_user_id: ColumnType<string | null, never, string>;
  revoked_at: ColumnType<Date | null, never, Date>;
}

declare module '../tenancy/tenant-database.ts' {
  interface TenantDatabase {
    invitations: InvitationsTable;
  }
}

export type Invitation = Selectable<InvitationsTable>;

export const INVITATION_PATH = '/invitations/accept';
export const NAME_MAX_LENGTH = 200;

export function hashInvitationToken(tenantId: string, token: string): string {
  return createHash('sha256').update(`sidechart invitation\0${tenantId}\0${token}`).digest('hex');
}

export interface NewInvitation {
  tenantId: string;
  email: string;
  role: Role;
  invitedBy: SessionUser;
  ttlHours: number;
  origin: RequestOrigin;
}

export type InviteResult =
  | { ok: true; invitation: Invitation; token: string }
  | { ok: false; field: 'email'; message: string };

/**
 * Creates an invitation (and its audit event) in one transaction; an earlier pending invitation
 * for the same address is revoked, so only the newest link works. Refuses an address that already
 * has an account.
 */
export async function createInvitation(db: TenantDb, input: NewInvitation): Promise<InviteResult> {
  const email = normalizeEmail(input.email);
  if (email === null) return { ok: false, field: 'email', message: 'Enter an e-mail address, like name@example.com.' };
  const token = randomBytes(32).toString('base64url');
  return db.transaction().execute(async (trx) => {
    if (await findUserByEmail(trx, email)) {
      return { ok: false as const, field: 'email' as const, message: `${email} already has an account at this clinic.` };
    }
    await trx
      .updateTable('invitations')
      .set({ revoked_at: new Date() })
      .where('email', '=', email)
      .where('accepted_at', 'is', null)
      .where('revoked_at', 'is', null)
      .execute();
    const invitation = await trx
      .insertInto('invitations')
      .values({
        email,
        role: input.role,
        token_hash: hashInvitationToken(input.tenantId, token),
        invited_by_user_id: input.invitedBy.id,
        invited_by_name: input.invitedBy.name,
        expires_at: new Date(Date.now() + input.ttlHours * 3_600_000),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordAudit(trx, {
      action: 'staff_invited',
      outcome: 'ok',
      userId: input.invitedBy.id,
      patientId: null,
      detail: `invited ${email} as ${input.role} (invitation ${invitation.id}, expires ${invitation.expires_at.toISOString()})`,
      origin: input.origin,
    });
    return { ok: true as const, invitation, token };
  });
}

/** Invitations that can still be accepted, newest first. */
export async function listPendingInvitations(db: TenantDb): Promise<Invitation[]> {
  return db
    .selectFrom('invitations')
    .selectAll()
    .where('accepted_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', new Date())
    .orderBy('created_at', 'desc')
    .execute();
}

/** Revokes a pending invitation; false when there was none to revoke. Audited with the change. */
export async function revokeInvitation(db: TenantDb, input: { id: string; by: SessionUser; origin: RequestOrigin }): Promise<boolean> {
  if (!/^[0-9]{1,19}$/.test(input.id)) return false;
  return db.transaction().execute(async (trx) => {
    const revoked = await trx
      .updateTable('invitations')
      .set({ revoked_at: new Date() })
      .where('id', '=', input.id)
      .where('accepted_at', 'is', null)
      .where('revoked_at', 'is', null)
      .returning(['email'])
      .executeTakeFirst();
    if (!revoked) return false;
    await recordAudit(trx, {
      action: 'invitation_revoked',
      outcome: 'ok',
      userId: input.by.id,
      patientId: null,
      detail: `revoked the invitation of ${revoked.email} (invitation ${input.id})`,
      origin: input.origin,
    });
    return true;
  });
}

export type InvitationLookup =
  | { status: 'valid'; invitation: Invitation }
  | { status: 'unknown' | 'used' | 'expired' | 'revoked' };

function judge(invitation: Invitation | undefined, now: Date): InvitationLookup {
  if (!invitation) return { status: 'unknown' };
  if (invitation.accepted_at !== null) return { status: 'used' };
  if (invitation.revoked_at !== null) return { status: 'revoked' };
  if (invitation.expires_at <= now) return { status: 'expired' };
  return { status: 'valid', invitation };
}

export async function findInvitation(db: TenantDb, tenantId: string, token: string): Promise<InvitationLookup> {
  const invitation = await db.selectFrom('invitations').selectAll().where('token_hash', '=', hashInvitationToken(tenantId, token)).executeTakeFirst();
  return judge(invitation, new Date());
}

export interface Acceptance {
  tenantId: string;
  token: string;
  name: string;
  /** argon2id hash of the chosen password; null at a clinic that signs in only with SSO. */
  passwordHash: string | null;
  origin: RequestOrigin;
}

export type AcceptResult =
  | { ok: true; userId: string; email: string }
  | { ok: false; status: Exclude<InvitationLookup['status'], 'valid'> | 'account_exists' };

/**
 * Creates the invited user and uses up the invitation, in one transaction: the invitation row is
 * locked first, so two acceptances of one link at once create one user and the other is refused.
 */
export async function acceptInvitation(db: TenantDb, input: Acceptance): Promise<AcceptResult> {
  try {
    return await db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('invitations')
        .selectAll()
        .where('token_hash', '=', hashInvitationToken(input.tenantId, input.token))
        .forUpdate()
        .executeTakeFirst();
      const lookup = judge(row, new Date());
      if (lookup.status !== 'valid') return { ok: false as const, status: lookup.status };
      const { invitation } = lookup;
      if (await findUserByEmail(trx, invitation.email)) return { ok: false as const, status: 'account_exists' as const };
      const user = await trx
        .insertInto('users')
        .values({ email: invitation.email, name: input.name, role: invitation.role, password_hash: input.passwordHash })
        .returning(['id', 'email'])
        .executeTakeFirstOrThrow();
      await trx.updateTable('invitations').set({ accepted_at: new Date(), accepted_user_id: user.id }).where('id', '=', invitation.id).execute();
      await recordAudit(trx, {
        action: 'invitation_accepted',
        outcome: 'ok',
        userId: user.id,
        patientId: null,
        detail: `${user.email} joined as ${invitation.role} (invitation ${invitation.id}, ${input.passwordHash === null ? 'single sign-on' : 'password'})`,
        origin: input.origin,
      });
      return { ok: true as const, userId: user.id, email: user.email };
    });
  } catch (error) {
    // The address got an account between our check and the insert (the CLI, an SSO domain sign-in).
    if (isUniqueViolation(error)) return { ok: false, status: 'account_exists' };
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// The invitee's page on the clinic host.

export interface InvitationRoutesOptions {
  hasher: PasswordHasher;
}

const TokenQuery = Type.Object({ token: Type.Optional(Type.String({ maxLength: 200 })) });
const AcceptBody = Type.Object({
  token: Type.Optional(Type.String({ maxLength: 200 })),
  name: Type.Optional(Type.String({ maxLength: 1000 })),
  password: Type.Optional(Type.String({ maxLength: PASSWORD_MAX_LENGTH + 1 })),
  password_confirm: Type.Optional(Type.String({ maxLength: PASSWORD_MAX_LENGTH + 1 })),
  _csrf: Type.Optional(Type.String({ maxLength: 512 })),
});

const INVALID: Record<Exclude<AcceptResult, { ok: true }>['status'], { statusCode: number; message: string }> = {
  unknown: { statusCode: 404, message: 'This invitation link is not valid here. Check that you opened the whole link from your e-mail, at the right clinic.' },
  used: { statusCode: 410, message: 'This invitation has already been used. Sign in instead.' },
  revoked: { statusCode: 410, message: 'This invitation was withdrawn. Ask your clinic administrator for a new one.' },
  expired: { statusCode: 410, message: 'This invitation has expired. Ask your clinic administrator for a new one.' },
  account_exists: { statusCode: 409, message: 'An account with this e-mail address already exists at this clinic. Sign in instead.' },
};

interface FormState {
  name: string;
  errors: { name?: string; password?: string; password_confirm?: string };
}

export async function invitationRoutes(fastify: FastifyInstance, options: InvitationRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  function sendInvalid(request: FastifyRequest, reply: FastifyReply, status: keyof typeof INVALID): FastifyReply {
    const { tenant } = requireClinic(request);
    const { statusCode, message } = INVALID[status];
    reply.header('cache-control', 'no-store');
    return sendPage(reply, 'auth/views/invitation-invalid', { title: 'Invitation', clinicName: tenant.displayName, message }, statusCode);
  }

  async function sendForm(request: FastifyRequest, reply: FastifyReply, invitation: Invitation, token: string, form: FormState, statusCode = 200): Promise<FastifyReply> {
    const { tenant, db } = requireClinic(request);
    const settings = await getAuthSettings(db);
    reply.header('cache-control', 'no-store');
    return sendPage(
      reply,
      'auth/views/invitation',
      {
        title: 'Join your clinic',
        clinicName: tenant.displayName,
        email: invitation.email,
        role: invitation.role,
        invitedBy: invitation.invited_by_name,
        token,
        passwordEnabled: settings.passwordEnabled,
        ssoNames: ssoButtons(request, settings).map((b) => b.label),
        name: form.name,
        errors: form.errors,
        hasErrors: Object.keys(form.errors).length > 0,
        csrfToken: csrfToken(request, reply),
      },
      statusCode,
    );
  }

  // Accepting writes a user: a read-only clinic says so before the form is filled in.
  app.get(INVITATION_PATH, { preHandler: requireTenant, schema: { querystring: TokenQuery }, config: { whileReadOnly: 'sign-in' } }, async (request, reply) => {
    const { tenant, db } = requireClinic(request);
    const token = request.query.token ?? '';
    const lookup = await findInvitation(db, tenant.id, token);
    if (lookup.status !== 'valid') return sendInvalid(request, reply, lookup.status);
    return sendForm(request, reply, lookup.invitation, token, { name: '', errors: {} });
  });

  app.post(INVITATION_PATH, { preHandler: requireTenant, schema: { body: AcceptBody }, config: { whileReadOnly: 'sign-in' } }, async (request, reply) => {
    const { tenant, db } = requireClinic(request);
    const token = request.body.token ?? '';
    const lookup = await findInvitation(db, tenant.id, token);
    if (lookup.status !== 'valid') return sendInvalid(request, reply, lookup.status);
    const settings = await getAuthSettings(db);

    const name = (request.body.name ?? '').trim();
    const password = request.body.password ?? '';
    const errors: FormState['errors'] = {};
    if (name === '') errors.name = 'Enter your name, as colleagues will see it on notes.';
    else if (name.length > NAME_MAX_LENGTH) errors.name = `Your name can have at most ${NAME_MAX_LENGTH} characters.`;
    if (settings.passwordEnabled) {
      const problem = checkNewPassword(password);
      if (problem !== null) errors.password = `Choose another password: ${problem}.`;
      else if (password !== (request.body.password_confirm ?? '')) errors.password_confirm = 'The two passwords are not the same.';
    }
    if (Object.keys(errors).length > 0) return sendForm(request, reply, lookup.invitation, token, { name: request.body.name ?? '', errors }, 422);

    // Hashed before the transaction: argon2 is slow on purpose, and the row lock should not wait for it.
    const passwordHash = settings.passwordEnabled ? await options.hasher.hash(password) : null;
    const accepted = await acceptInvitation(db, { tenantId: tenant.id, token, name, passwordHash, origin: requestOrigin(request) });
    if (!accepted.ok) return sendInvalid(request, reply, accepted.status);
    request.log.info({ event: 'invitation_accepted', userId: accepted.userId }, 'invitation accepted');
    if (passwordHash !== null) return signIn(request, reply, { id: accepted.userId }, { method: 'password' });

    reply.header('cache-control', 'no-store');
    return sendPage(reply, 'auth/views/invitation-sso', {
      title: 'Sign in to finish',
      clinicName: tenant.displayName,
      email: accepted.email,
      buttons: ssoButtons(request, settings),
    });
  });
}
