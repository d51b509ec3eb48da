// The admin area's Staff section: who works here (name, e-mail, role, disabled, how they sign in),
// invitations (the link shown to the admin, and e-mailed when SMTP is configured), role changes,
// disabling, enabling and removing. Registered under /admin by the admin plugin, which guards every
// route with requireAdmin; each route applies the guard itself too, so the plugin is safe alone.
// Every change is one transaction with its audit event; the clinic's last enabled admin cannot be
// demoted, disabled or removed (users.ts changeStaff says how that holds under concurrency).
import { signInMethodsOf } from '../auth/admins.ts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from '../config.ts';
import { requireAdmin } from '../auth/guards.ts';
import { csrfToken } from '../auth/csrf.ts';
import { authErrors } from '../auth/errors.ts';
import { createInvitation, INVITATION_PATH, listPendingInvitations, revokeInvitation } from '../auth/invitations.ts';
import { getAuthSettings } from '../auth/settings.ts';
import type { Role } from '../auth/tables.ts';
import { changeStaff, EMAIL_MAX_LENGTH, listStaff, ROLES, staffErrors, type SessionUser, type StaffChange } from '../auth/users.ts';
import { isAppError } from '../infra/errors.ts';
import { sendAdminPage } from './sections.ts';
import type { Mailer } from '../infra/mail.ts';
import { tenantUrl } from '../infra/urls.ts';
import { recordAudit, requestOrigin } from '../patients/audit.ts';
import type { AuditAction } from '../patients/tables.ts';
import { requestBaseDomain, requireClinic, requireTenant } from '../tenancy/plugin.ts';

export interface StaffRoutesOptions {
  config: Pick<Config, 'publicScheme' | 'publicPort' | 'baseDomains' | 'invitationTtlHours' | 'platformProviders'>;
  mailer: Mailer;
}

const guard = [requireTenant, requireAdmin];

const UserParams = Type.Object({ id: Type.String({ pattern: '^[1-9][0-9]{0,18}$' }) });
const CsrfOnly = Type.Object({ _csrf: Type.Optional(Type.String({ maxLength: 512 })) });
const InviteBody = Type.Object({
  email: Type.Optional(Type.String({ maxLength: EMAIL_MAX_LENGTH + 100 })),
  role: Type.Optional(Type.String({ maxLength: 20 })),
  _csrf: Type.Optional(Type.String({ maxLength: 512 })),
});
const RoleBody = Type.Object({ role: Type.Optional(Type.String({ maxLength: 20 })), _csrf: Type.Optional(Type.String({ maxLength: 512 })) });

/** What the page says after a change (the redirect carries only the key, never text). */
const DONE = {
  role: 'Role changed.',
  disabled: 'Account disabled; its sessions have ended.',
  enabled: 'Account enabled.',
  removed: 'Account removed; its sessions have ended.',
  revoked: 'Invitation withdrawn.',
} as const;
const StaffQuery = Type.Object({ done: Type.Optional(Type.Union(Object.keys(DONE).map((k) => Type.Literal(k)))) });

const ROLE_WORDS: Record<Role, string> = { admin: 'Administrator', staff: 'Staff' };

function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

interface InviteForm {
  email: string;
  role: string;
  errors: { email?: string; role?: string };
}

const CHANGES = {
  disable: { change: { kind: 'disable' }, action: 'staff_disabled', done: 'disabled' },
  enable: { change: { kind: 'enable' }, action: 'staff_enabled', done: 'enabled' },
  remove: { change: { kind: 'remove' }, action: 'staff_removed', done: 'removed' },
} as const satisfies Record<string, { change: StaffChange; action: AuditAction; done: keyof typeof DONE }>;

export async function staffRoutes(fastify: FastifyInstance, options: StaffRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { config, mailer } = options;
  /** Where this plugin is mounted (/admin in the app): forms and redirects name full paths. */
  const base = `${fastify.prefix}/staff`;

  async function sendStaffPage(
    request: FastifyRequest,
    reply: FastifyReply,
    extra: { invite?: InviteForm; error?: string | null; done?: string | null } = {},
    statusCode = 200,
  ): Promise<FastifyReply> {
    const { tenant, db } = requireClinic(request);
    const [staff, invitations, settings] = await Promise.all([listStaff(db), listPendingInvitations(db), getAuthSettings(db)]);
    const me = actorOf(request);
    reply.header('cache-control', 'no-store');
    return sendAdminPage(
      reply,
      'staff',
      'staff',
      {
        title: 'Staff',
        clinicName: tenant.displayName,
        base,
        csrfToken: csrfToken(request, reply),
        ttlText: config.invitationTtlHours % 24 === 0 ? `${config.invitationTtlHours / 24} day${config.invitationTtlHours === 24 ? '' : 's'}` : `${config.invitationTtlHours} hour${config.invitationTtlHours === 1 ? '' : 's'}`,
        error: extra.error ?? null,
        done: extra.done ?? null,
        invite: extra.invite ?? { email: '', role: 'staff', errors: {} },
        roles: ROLES.map((role) => ({ value: role, label: ROLE_WORDS[role] })),
        staff: staff.map(({ user, hasPassword, issuers }) => ({
          id: user.id,
          name: user.name,
          email: user.email,
          role: user.role,
          roleLabel: ROLE_WORDS[user.role],
          disabled: user.disabled,
          isMe: user.id === me.id,
          signIn: signInMethod(hasPassword && settings.passwordEnabled, issuers),
        })),
        invitations: invitations.map((i) => ({
          id: i.id,
          email: i.email,
          roleLabel: ROLE_WORDS[i.role],
          invitedBy: i.invited_by_name,
          expires: i.expires_at.toISOString().replace(/\.\d+Z$/, 'Z').replace('T', ' '),
        })),
      },
      statusCode,
    );
  }

  /** Runs one change with its audit event; the last-admin refusal is shown on the page (409). */
  async function applyChange(request: FastifyRequest, reply: FastifyReply, userId: string, change: StaffChange, action: AuditAction, done: keyof typeof DONE) {
    const { db } = requireClinic(request);
    const actor = actorOf(request);
    try {
      await db.transaction().execute(async (trx) => {
        const methods = signInMethodsOf(await getAuthSettings(trx), options.config.platformProviders);
        const result = await changeStaff(trx, userId, change, methods);
        if (!result.changed) return;
        const what = change.kind === 'role' ? `role of ${result.before.email}: ${result.before.role} -> ${change.role}` : `${change.kind}d ${result.before.email}`;
        await recordAudit(trx, { action, outcome: 'ok', userId: actor.id, patientId: null, detail: `${what} (user ${userId})`, origin: requestOrigin(request) });
      });
    } catch (error) {
      if (isAppError(error) && (error.code === staffErrors.lastAdmin.code || error.code === staffErrors.lastAdminWhoCanSignIn.code || error.code === staffErrors.userGone.code)) {
        return sendStaffPage(request, reply, { error: error.message }, error.statusCode);
      }
      throw error;
    }
    request.log.info({ event: 'staff_changed', action, userId, by: actor.id }, 'staff changed');
    reply.header('cache-control', 'no-store');
    return reply.redirect(`${base}?done=${done}`, 303);
  }

  app.get('/staff', { preHandler: guard, schema: { querystring: StaffQuery } }, async (request, reply) => {
    const done = request.query.done;
    return sendStaffPage(request, reply, { done: done === undefined ? null : DONE[done as keyof typeof DONE] });
  });

  app.post('/staff/invitations', { preHandler: guard, schema: { body: InviteBody } }, async (request, reply) => {
    const { tenant, db } = requireClinic(request);
    const actor = actorOf(request);
    const form: InviteForm = { email: request.body.email ?? '', role: request.body.role ?? '', errors: {} };
    if (!isRole(form.role)) form.errors.role = 'Choose Staff or Administrator.';
    if (form.email.trim() === '') form.errors.email = 'Enter the e-mail address of the person to invite.';
    if (Object.keys(form.errors).length > 0) return sendStaffPage(request, reply, { invite: form }, 422);

    const result = await createInvitation(db, {
      tenantId: tenant.id,
      email: form.email,
      role: form.role as Role,
      invitedBy: actor,
      ttlHours: config.invitationTtlHours,
      origin: requestOrigin(request),
    });
    if (!result.ok) return sendStaffPage(request, reply, { invite: { ...form, errors: { email: result.message } } }, 422);

    const { invitation, token } = result;
    // Built from configuration and the stored slug, never from the request's Host (security.md).
    const link = tenantUrl(config, tenant.slug, `${INVITATION_PATH}?token=${token}`, requestBaseDomain(request));
    const expires = invitation.expires_at.toISOString().replace(/\.\d+Z$/, 'Z').replace('T', ' ');
    let mail: 'sent' | 'failed' | 'off' = 'off';
    if (mailer.configured) {
      try {
        await mailer.send({
          to: invitation.email,
          subject: `Join ${tenant.displayName} on Sidechart`,
          text: [
            `${actor.name} invited you to Sidechart at ${tenant.displayName} as ${invitation.role === 'admin' ? 'an administrator' : 'a staff member'}.`,
            '',
            `Open this link to join. It works once, until ${expires}:`,
            link,
            '',
            'If you did not expect this invitation, ignore this e-mail.',
          ].join('\n'),
        });
        mail = 'sent';
      } catch (error) {
        // The link is not logged: it is a bearer secret. The admin still has it on the page.
        request.log.warn({ err: { message: (error as Error).message, code: (error as { code?: unknown }).code }, event: 'invitation_mail_failed', invitationId: invitation.id }, 'invitation e-mail not sent');
        mail = 'failed';
      }
    }
    reply.header('cache-control', 'no-store');
    return sendAdminPage(reply, 'staff-invited', 'staff', {
      title: 'Invitation created',
      clinicName: tenant.displayName,
      base,
      email: invitation.email,
      roleLabel: ROLE_WORDS[invitation.role],
      link,
      expires,
      mail,
    }, 201);
  });

  app.post('/staff/invitations/:id/revoke', { preHandler: guard, schema: { params: UserParams, body: CsrfOnly } }, async (request, reply) => {
    const { db } = requireClinic(request);
    const revoked = await revokeInvitation(db, { id: request.params.id, by: actorOf(request), origin: requestOrigin(request) });
    if (!revoked) return sendStaffPage(request, reply, { error: 'That invitation was already used, withdrawn or replaced.' }, 409);
    reply.header('cache-control', 'no-store');
    return reply.redirect(`${base}?done=revoked`, 303);
  });

  app.post('/staff/:id/role', { preHandler: guard, schema: { params: UserParams, body: RoleBody } }, async (request, reply) => {
    const role = request.body.role;
    if (!isRole(role)) return sendStaffPage(request, reply, { error: 'Choose Staff or Administrator as the new role.' }, 422);
    return applyChange(request, reply, request.params.id, { kind: 'role', role }, 'staff_role_changed', 'role');
  });

  for (const [path, { change, action, done }] of Object.entries(CHANGES)) {
    app.post(`/staff/:id/${path}`, { preHandler: guard, schema: { params: UserParams, body: CsrfOnly } }, async (request, reply) =>
      applyChange(request, reply, request.params.id, change, action, done),
    );
  }

  // Removing is final: a page that says so, with the button that does it.
  app.get('/staff/:id/remove', { preHandler: guard, schema: { params: UserParams } }, async (request, reply) => {
    const { tenant, db } = requireClinic(request);
    const user = await db.selectFrom('users').select(['id', 'name', 'email']).where('id', '=', request.params.id).executeTakeFirst();
    if (!user) return sendStaffPage(request, reply, { error: staffErrors.userGone().message }, 404);
    reply.header('cache-control', 'no-store');
    return sendAdminPage(reply, 'staff-remove', 'staff', {
      title: 'Remove an account',
      clinicName: tenant.displayName,
      base,
      user,
      csrfToken: csrfToken(request, reply),
    });
  });
}

/** The signed-in admin (requireAdmin has run; a request without a user never gets here). */
function actorOf(request: FastifyRequest): SessionUser {
  if (!request.user) throw authErrors.signInRequired();
  return request.user;
}

function signInMethod(password: boolean, issuers: string[]): string {
  const methods: string[] = [];
  if (password) methods.push('Password');
  for (const issuer of issuers) methods.push(`Single sign-on (${hostOf(issuer)})`);
  return methods.length > 0 ? methods.join(', ') : 'Single sign-on (not used yet)';
}

function hostOf(issuer: string): string {
  try {
    return new URL(issuer).host;
  } catch {
    return issuer;
  }
}
