// The one way anybody becomes signed in, whatever the method (password, the clinic's OIDC, a
// platform provider): a new session ID with the old record destroyed (no fixation), bound to this
// clinic, with the clinic's timeouts, then back to where the user was going.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { httpErrors } from '../../infra/errors.ts';
import { authErrors } from '../errors.ts';
import { takeReturnTo } from '../return-to-cookie.ts';
import { startFreshSession, type SignInMethod } from './plugin.ts';
import { sweepExpiredSessions } from './store.ts';
import { expiresAt } from './timeouts.ts';
import { findUserForSession, toSessionUser } from '../users.ts';

export async function signIn(
  request: FastifyRequest,
  reply: FastifyReply,
  user: { id: string },
  options: { method?: SignInMethod } = {},
): Promise<FastifyReply> {
  const { tenant } = request;
  const db = request.clinic?.db;
  if (!tenant || !db || !request.session) throw httpErrors.notFound();
  const row = await findUserForSession(db, user.id);
  if (!row) throw new Error(`signIn: no user ${user.id} in this clinic`);
  if (row.disabled) throw authErrors.accountDisabled();

  // Signed, bound to this clinic, not expired, a safe path (return-to-cookie.ts); used once.
  const returnTo = takeReturnTo(request, reply) ?? '/';
  // Not regenerate(): in @fastify/session 11.1.x it may leave the old record in the store (issue
  // 240) and it stores an empty session at once. Destroy the old record, then start afresh.
  await request.session.destroy();
  await startFreshSession(request);
  const now = Date.now();
  const method = options.method ?? 'password';
  const timeouts = { idleMs: row.idle_timeout_minutes * 60_000, absoluteMs: row.absolute_timeout_minutes * 60_000 };
  Object.assign(request.session, {
    userId: row.id,
    tenantId: tenant.id,
    authMethod: method,
    signedInAt: now,
    seenAt: now,
    expiresAt: expiresAt({ signedInAt: now, seenAt: now }, timeouts),
  });
  request.user = toSessionUser(row);
  request.log.info({ event: 'sign_in', outcome: 'success', method, userId: row.id }, 'signed in');
  if (request.session.cookie.secure === true && request.protocol !== 'https') {
    // @fastify/session silently drops Secure cookies on plain HTTP: say why sign-in will not stick.
    request.log.warn('signed in over plain HTTP while PUBLIC_SCHEME is https: the session cookie is not set (check TRUSTED_PROXIES and X-Forwarded-Proto)');
  }
  // Sign-ins are rare enough to carry the clinic's housekeeping.
  await sweepExpiredSessions(db).catch((error: unknown) => request.log.warn({ err: error }, 'expired session sweep failed'));

  reply.header('cache-control', 'no-store');
  return reply.redirect(returnTo, 303);
}

/** Ends the session: its record is destroyed, the cookie cleared; the request is anonymous after. */
export async function signOut(request: FastifyRequest): Promise<void> {
  if (!request.session) return;
  const userId = request.user?.id ?? null;
  await request.session.destroy();
  await startFreshSession(request);
  request.user = null;
  if (userId !== null) request.log.info({ event: 'sign_out', userId }, 'signed out');
}
