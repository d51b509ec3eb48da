// Password sign-in on a clinic's host: POST /login, as one story. The clinic must allow
// passwords; every attempt is counted first, and one over a limit (throttle.ts) is refused before
// any password is checked (429 + Retry-After, right password or not); the password is verified with argon2id, against a dummy
// hash when the e-mail is unknown or has no password, so neither the message nor the time tells
// whether an account exists; failures are counted; only after a correct password does a disabled
// account hear that it is disabled; then signIn().
import { signInRateLimit } from '../../infra/load.ts';
import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { requireClinic, requireTenant } from '../../tenancy/plugin.ts';
import { authErrors } from '../errors.ts';
import { getAuthSettings } from '../settings.ts';
import { sendLoginPage } from '../sign-in-page.ts';
import { signIn } from '../session/sign-in.ts';
import { EMAIL_MAX_LENGTH, findUserByEmail, normalizeEmail, setPasswordHash } from '../users.ts';
import { PASSWORD_MAX_LENGTH, type PasswordHasher } from './hasher.ts';
import type { LoginThrottle } from './throttle.ts';

export const WRONG_CREDENTIALS = 'E-mail or password is incorrect.';

export interface PasswordRoutesOptions {
  hasher: PasswordHasher;
  throttle: LoginThrottle;
  /** Sign-in POSTs per client address per minute (infra/load.ts), whatever the account. */
  perMinute: number;
}

const LoginBody = Type.Object({
  email: Type.String({ maxLength: EMAIL_MAX_LENGTH }),
  password: Type.String({ maxLength: PASSWORD_MAX_LENGTH }),
  _csrf: Type.Optional(Type.String({ maxLength: 512 })),
});

function waitText(seconds: number): string {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}

export async function passwordRoutes(fastify: FastifyInstance, options: PasswordRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { hasher, throttle } = options;

  app.post('/login', { preHandler: requireTenant, schema: { body: LoginBody }, config: { ...signInRateLimit(options.perMinute), whileReadOnly: 'sign-in' } }, async (request, reply) => {
    const { tenant, db } = requireClinic(request);
    const settings = await getAuthSettings(db);
    if (!settings.passwordEnabled) throw authErrors.passwordSignInDisabled(tenant.displayName);
    const typed = request.body.email.trim();
    const normalized = normalizeEmail(typed);
    // Something that is not an address still counts against the throttle (minus control
    // characters, which PostgreSQL cannot store), and is nobody's account.
    const email = normalized ?? typed.toLowerCase().replace(/\p{Cc}/gu, '');
    const attempt = { tenantId: tenant.id, email, ip: request.ip };
    const log = (outcome: string, extra: Record<string, unknown> = {}) =>
      request.log.info({ event: 'sign_in', method: 'password', outcome, ...extra }, `password sign-in: ${outcome}`);

    // Counted before the password is checked (throttle.ts): concurrent guesses cannot slip past.
    const verdict = await throttle.begin(attempt);
    if (!verdict.allowed) {
      log('throttled', { by: verdict.by, retryAfterSeconds: verdict.seconds });
      reply.header('retry-after', String(verdict.seconds));
      return sendLoginPage(request, reply, {
        statusCode: 429,
        error: `Too many sign-in attempts. Wait ${waitText(verdict.seconds)} and try again.`,
        email: typed,
      });
    }

    const user = normalized === null ? undefined : await findUserByEmail(db, normalized);
    const passwordMatches = await hasher.verify(user?.password_hash ?? null, request.body.password);
    if (!user || !passwordMatches) {
      log('failure', { reason: !user ? 'unknown_email' : user.password_hash === null ? 'no_password' : 'wrong_password', userId: user?.id ?? null });
      return sendLoginPage(request, reply, { statusCode: 401, error: WRONG_CREDENTIALS, email: typed });
    }
    await throttle.succeeded(attempt);
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
  });
}
