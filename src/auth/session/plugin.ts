// Sessions: @fastify/session with the clinic's own sessions table (session-store.ts), and the
// signed-in user on every request.
//
// A request goes through, in order (all onRequest, after tenancy):
//   1. @fastify/cookie parses cookies;
//   2. a session cookie that does not name this clinic's region and schema is dropped before the
//      session loads: on another clinic's host it is ignored (and that clinic's record untouched),
//      on platform/reserved hosts and anyHost routes no store is ever queried;
//   3. @fastify/session loads the session (saveUninitialized off: nothing is stored for a visitor
//      until a sign-in starts; rolling off: nothing is written just because a request happened);
//   4. the user is loaded with the clinic's timeouts in one query; a session of another clinic, of
//      a missing or disabled user, idle or past its absolute lifetime is destroyed and replaced by
//      a fresh, unsaved one. `seenAt` is written back only when it has aged (timeouts.ts).
import fp from 'fastify-plugin';
import cookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../../config.ts';
import type { Clinics } from '../../tenancy/clinic.ts';
import { cookieBelongsTo, newSessionId, unusableSessionId } from './id.ts';
import type { SessionCache } from './cache.ts';
import { createSessionStore, type SessionStore } from './store.ts';
import { judgeSession } from './timeouts.ts';
import { isReadOnly } from '../../tenancy/read-only.ts';
import { returnToCookieKey } from '../return-to-cookie.ts';
import { findUserForSession, toSessionUser, type SessionUser } from '../users.ts';

export type SignInMethod = 'password' | 'oidc' | 'platform';

declare module 'fastify' {
  /** What a session holds. One place for every field, so all sign-in methods agree. */
  interface Session {
    /** Set by signIn() only; a session without it is anonymous (maybe mid sign-in). */
    userId?: string;
    /** The clinic (control.tenants.id) the session was created for. */
    tenantId?: string;
    authMethod?: SignInMethod;
    /** Epoch ms: start of the absolute timeout. */
    signedInAt?: number;
    /** Epoch ms: last request, refreshed when it has aged (idle timeout). */
    seenAt?: number;
    /** Epoch ms: when the stored row expires (store default for pre-login sessions). */
    expiresAt?: number;
    /**
     * Loaded with the session by the store in the same query (never stored): the session's user
     * and the clinic's timeouts, or null when that user no longer exists.
     */
    loadedUser?: Awaited<ReturnType<typeof findUserForSession>> | null;
    /** Pre-login: an OIDC / platform login transaction (state, nonce, PKCE verifier, issuer...). */
    oidc?: Record<string, unknown>;
  }
  interface FastifyRequest {
    /** The signed-in user of this clinic, or null. Set after the session loads. */
    user: SessionUser | null;
  }
}

export interface SessionCookieSettings {
  name: string;
  secure: boolean;
}

/**
 * `__Host-sidechart` (Secure, Path=/, no Domain) whenever we are served over HTTPS; the plain
 * `sidechart` without Secure only for plain-HTTP development (config refuses http in production).
 */
export function sessionCookieSettings(config: Pick<Config, 'publicScheme'>): SessionCookieSettings {
  const secure = config.publicScheme === 'https';
  return { name: secure ? '__Host-sidechart' : 'sidechart', secure };
}

export interface SessionPluginOptions {
  config: Config;
  /** Signs the session cookie (runtime.secrets.sessionSecret). */
  secret: string;
  clinics: Clinics;
  /** Signed-in sessions held in process (runtime.sessionCache); none: every request reads the table. */
  cache?: SessionCache;
  /** Defaults to the clinics' own tables (createSessionStore); tests may wrap it. */
  store?: SessionStore;
  /** Clock for the timeouts (tests). */
  now?: () => number;
}

async function sessions(app: FastifyInstance, options: SessionPluginOptions): Promise<void> {
  const { name, secure } = sessionCookieSettings(options.config);
  const now = options.now ?? Date.now;
  const cookieOptions = { path: '/', httpOnly: true, sameSite: 'lax' as const, secure };

  // parseOptions are the defaults of every cookie set or cleared, so clearing `__Host-` works.
  // Signed cookies (the return path, return-to-cookie.ts) use a key derived from the session
  // secret; the session cookie is signed by @fastify/session with the secret itself.
  await app.register(cookie, { parseOptions: cookieOptions, secret: returnToCookieKey(options.secret) });

  app.addHook('onRequest', async (request) => {
    const value = request.cookies[name];
    if (value === undefined) return;
    if (!request.tenant || !cookieBelongsTo(value, request.tenant)) delete request.cookies[name];
  });

  await app.register(fastifySession, {
    secret: options.secret,
    cookieName: name,
    cookie: cookieOptions,
    store: options.store ?? createSessionStore({ clinics: options.clinics, ...(options.cache ? { cache: options.cache } : {}) }),
    saveUninitialized: false,
    rolling: false,
    idGenerator: (request) => (request?.tenant ? newSessionId(request.tenant) : unusableSessionId()),
  });

  app.decorateRequest('user', null);
  app.addHook('onRequest', async (request) => {
    await loadUser(request, now());
  });

  // Pages for a signed-in user are never cached (routes may still set their own policy).
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.user && !reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });
}

export const sessionPlugin = fp(sessions, { name: 'sidechart-sessions', fastify: '5.x', dependencies: ['sidechart-tenancy'] });

async function loadUser(request: FastifyRequest, now: number): Promise<void> {
  const { tenant, session } = request;
  const db = request.clinic?.db;
  if (!tenant || !db || !session || session.userId === undefined) return;
  if (session.tenantId !== tenant.id) return endSession(request, 'wrong_tenant');
  const row = session.loadedUser !== undefined ? session.loadedUser : await findUserForSession(db, session.userId);
  if (!row) return endSession(request, 'user_gone');
  if (row.disabled) return endSession(request, 'user_disabled');
  const verdict = judgeSession(
    { signedInAt: session.signedInAt, seenAt: session.seenAt },
    { idleMs: row.idle_timeout_minutes * 60_000, absoluteMs: row.absolute_timeout_minutes * 60_000 },
    now,
  );
  if (verdict.state === 'expired') return endSession(request, verdict.reason);
  // A read-only clinic takes no writes (tenancy/read-only.ts): the last-seen time waits for the
  // clinic to be writable again (the move lasts minutes; the idle timeout is judged as usual).
  if (verdict.touch && !isReadOnly(tenant)) {
    session.seenAt = verdict.seenAt;
    session.expiresAt = verdict.expiresAt;
  }
  request.user = toSessionUser(row);
}

async function endSession(request: FastifyRequest, reason: string): Promise<void> {
  request.log.info({ event: 'session_ended', reason, userId: request.session.userId }, 'session ended');
  // At a read-only clinic the record stays (it cannot be deleted now); it is no use to anyone, as
  // the same judgement ends it again at every request, and it is swept once the clinic is writable.
  if (!isReadOnly(request.tenant)) await request.session.destroy();
  await startFreshSession(request);
}

/**
 * Replaces request.session with a new, unsaved session (new ID, no data) without touching any
 * stored record: @fastify/session's public decryptSession() with a value that carries no valid
 * signature does exactly that. The stale cookie is cleared on the way out unless the new session
 * gets saved (then the new cookie replaces it).
 */
export function startFreshSession(request: FastifyRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    request.server.decryptSession('', request, (error?: unknown) => (error ? reject(error) : resolve()));
  });
}
