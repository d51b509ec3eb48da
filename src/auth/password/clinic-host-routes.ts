// A clinic's sign-in page, password sign-in and sign-out.
//
// POST /login, as one story: the clinic must allow passwords; a locked account or address is
// refused before any password is checked (429 + Retry-After, right password or not); the password
// is verified with argon2id, against a dummy hash when the e-mail is unknown or has no password, so
// neither the message nor the time tells whether an account exists; failures are counted; only
// after a correct password does a disabled account hear that it is disabled; then signIn().
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../infra/errors.ts';
import { sendPage } from '../../infra/html.ts';
import { requireTenant } from '../../tenancy/plugin.ts';
import { ssoButtons } from '../sign-in-page.ts';
import { PASSWORD_MAX_LENGTH, type PasswordHasher } from './hasher.ts';
import { getAuthSettings } from '../settings.ts';
import { signIn, signOut } from '../session/sign-in.ts';
import type { LoginThrottle } from './throttle.ts';
import { EMAIL_MAX_LENGTH, findUserByEmail, normalizeEmail, setPasswordHash } from '../users.ts';

export const WRONG_CREDENTIALS = 'E-mail or password is incorrect.';

export interface LoginRoutesOptions {
  hasher: PasswordHasher;
  throttle: LoginThrottle;
}

export interface LoginPageOptions {
  statusCode?: number;
  /** Shown above the form (already worded for the user). */
  error?: string | null;
  /** Prefills the e-mail field. */
  email?: string;
}

/** Renders the clinic's sign-in page (also for SSO code that needs to show an error there). */
export async function sendLoginPage(request: FastifyRequest, reply: FastifyReply, options: LoginPageOptions = {}): Promise<FastifyReply> {
  const { tenant, tenantDb: db } = request;
  if (!tenant || !db) throw new AppError(404, 'not_found', 'There is no page at this address.');
  const settings = await getAuthSettings(db);
  // The form's CSRF secret is what starts a (pre-login) session: only when there is a form.
  const csrfToken = settings.passwordEnabled ? reply.generateCsrf() : null;
  const buttons = await ssoButtons(request, settings);
  reply.header('cache-control', 'no-store');
  return sendPage(
    reply,
    'auth/views/login',
    {
      title: 'Sign in',
      clinicName: tenant.displayName,
      passwordEnabled: settings.passwordEnabled,
      csrfToken,
      buttons,
      error: options.error ?? null,
      email: options.email ?? '',
    },
    options.statusCode ?? 200,
  );
}

function waitText(seconds: number): string {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}

interface LoginBody {
  email: string;
  password: string;
  _csrf?: string;
}

export async function loginRoutes(app: FastifyInstance, options: LoginRoutesOptions): Promise<void> {
  const { hasher, throttle } = options;

  app.get('/login', { preHandler: requireTenant }, async (request, reply) => {
    if (request.user) return reply.header('cache-control', 'no-store').redirect('/', 303);
    return sendLoginPage(request, reply);
  });

  app.post<{ Body: LoginBody }>(
    '/login',
    {
      preHandler: requireTenant,
      schema: {
        body: {
          type: 'object',
          required: ['email', 'password'],
          properties: {
            email: { type: 'string', maxLength: EMAIL_MAX_LENGTH },
            password: { type: 'string', maxLength: PASSWORD_MAX_LENGTH },
            _csrf: { type: 'string', maxLength: 512 },
          },
        },
      },
    },
    async (request, reply) => {
      const tenant = request.tenant!;
      const db = request.tenantDb!;
      const settings = await getAuthSettings(db);
      if (!settings.passwordEnabled) {
        throw new AppError(403, 'password_sign_in_disabled', `${tenant.displayName} does not use passwords. Use another way to sign in on the sign-in page.`);
      }
      const typed = request.body.email.trim();
      const email = normalizeEmail(typed) ?? typed.toLowerCase();
      const attempt = { tenantId: tenant.id, email, ip: request.ip };
      const log = (outcome: string, extra: Record<string, unknown> = {}) =>
        request.log.info({ event: 'sign_in', method: 'password', outcome, ...extra }, `password sign-in: ${outcome}`);

      const locked = await throttle.lockedFor(attempt);
      if (locked) {
        log('throttled', { by: locked.by, retryAfterSeconds: locked.seconds });
        reply.header('retry-after', String(locked.seconds));
        return sendLoginPage(request, reply, {
          statusCode: 429,
          error: `Too many sign-in attempts. Wait ${waitText(locked.seconds)} and try again.`,
          email: typed,
        });
      }

      const user = await findUserByEmail(db, email);
      const passwordMatches = await hasher.verify(user?.password_hash ?? null, request.body.password);
      if (!user || !passwordMatches) {
        await throttle.recordFailure(attempt);
        log('failure', { reason: !user ? 'unknown_email' : user.password_hash === null ? 'no_password' : 'wrong_password', userId: user?.id ?? null });
        return sendLoginPage(request, reply, { statusCode: 401, error: WRONG_CREDENTIALS, email: typed });
      }
      await throttle.recordSuccess(attempt);
      if (user.disabled) {
        log('disabled', { userId: user.id });
        return sendLoginPage(request, reply, {
          statusCode: 403,
          error: 'This account is disabled. Ask your clinic administrator to enable it.',
          email: typed,
        });
      }
      if (user.password_hash !== null && hasher.needsRehash(user.password_hash)) {
        await setPasswordHash(db, user.id, await hasher.hash(request.body.password));
      }
      return signIn(request, reply, user, { method: 'password' });
    },
  );

  app.post('/logout', { preHandler: requireTenant }, async (request, reply) => {
    await signOut(request);
    reply.header('cache-control', 'no-store');
    return reply.redirect('/login', 303);
  });
}
