// The auth host (`auth.<base domain>`, a reserved label): where platform providers send users back
// (issue 3 point 5). Identity providers need exact redirect URIs, and a platform-wide client cannot
// list every clinic's host, so there is one callback per provider and base domain here:
//
//   GET /sso/:provider/start?tenant=<slug>&attempt=<signed attempt reference>
//     checks the reference (minted by the clinic's host, see clinic-host-routes.ts), that it was
//     minted on this base domain, that the clinic exists and allows this provider, then starts the
//     code flow with openid-client: state, nonce and PKCE S256; state, nonce, verifier, clinic and
//     attempt are kept in a signed, short-lived, HttpOnly cookie on this host.
//   GET /sso/:provider/callback?code&state&iss
//     checks the cookie, state and the RFC 9207 `iss` parameter, exchanges the code with the
//     verifier and lets openid-client check the ID token (signature against the issuer's JWKS, iss,
//     aud, azp, exp, nonce), stores a hand-off (handoffs.ts) and sends the browser to
//     `<clinic origin>/login/sso/complete?token=...` on the same base domain, where the clinic's own
//     session is created.
//
// Clients are openid-client Configurations built by discovery (providers.ts), not plugins fixed at
// registration, so a provider that was down at boot is used as soon as it answers. No session
// exists on this host and nothing here signs anyone in.
import { signInRateLimit } from '../../../infra/load.ts';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { requestOrigin, type RequestOrigin } from '../../../patients/audit.ts';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import cookie from '@fastify/cookie';
import * as oidc from 'openid-client';
import type { Config } from '../../../config.ts';
import { httpErrors, isAppError } from '../../../infra/errors.ts';
import { shapeOf } from '../../../infra/schemas.ts';
import { originFor, tenantUrl } from '../../../infra/urls.ts';
import type { Clinics } from '../../../tenancy/clinic.ts';
import { forwardElsewhere, requestBaseDomain } from '../../../tenancy/plugin.ts';
import { isReadOnly } from '../../../tenancy/read-only.ts';
import { tenancyErrors } from '../../../tenancy/errors.ts';
import type { Handoffs } from './handoffs.ts';
import { AuthorizationResponseQuery } from '../attempt.ts';
import { ProviderParams, type PlatformProviders } from './providers.ts';
import { getAuthSettings } from '../../settings.ts';
import { signInPageLink, ssoErrors } from '../errors.ts';
import { exchangeCode } from '../discovery.ts';
import { stringClaim, type SsoTokens } from '../tokens.ts';
import { normalizeEmail } from '../../users.ts';

export const AUTH_HOST_LABEL = 'auth';
/** How long a sign-in at a platform provider may take, from the clinic's button to the callback. */
export const PLATFORM_LOGIN_TTL_SECONDS = 600;

export interface PlatformAuthHostOptions {
  config: Config;
  clinics: Clinics;
  providers: PlatformProviders;
  tokens: SsoTokens;
  handoffs: Handoffs;
  /** Sign-up with a platform provider (signup/provider-signup.ts); without it, /signup here is a 404. */
  signup?: ProviderSignupHandler;
}

/** Who the provider said the new clinic's first admin is. */
export interface SignupIdentity {
  providerId: string;
  issuer: string;
  subject: string;
  email: string | null;
}

/**
 * Sign-up's side of a sign-up at a platform provider: this host runs the code flow as for a
 * sign-in, sign-up decides what the identity creates. Kept as an interface so that sign-in code
 * does not depend on sign-up.
 */
export interface ProviderSignupHandler {
  /** The sign-up form on the platform host (the way back from an error page). */
  formUrl(baseDomain: string): string;
  /** True when the signed sign-up request may start at this provider on this base domain. */
  accepts(request: string, providerId: string, baseDomain: string): Promise<boolean>;
  /** Creates the clinic and its admin; resolves to where the browser goes next (the hand-off). */
  complete(request: string, identity: SignupIdentity, context: { baseDomain: string; log: FastifyBaseLogger; origin: RequestOrigin }): Promise<string>;
}

type UrlConfig = Pick<Config, 'publicScheme' | 'publicPort' | 'baseDomains'>;

export function platformCallbackUri(config: UrlConfig, providerId: string, baseDomain?: string): string {
  return `${originFor(config, AUTH_HOST_LABEL, baseDomain)}/sso/${providerId}/callback`;
}

/** The redirect URIs to register at a platform provider: one per base domain. */
export function platformCallbackUris(config: UrlConfig, providerId: string): string[] {
  return config.baseDomains.map((baseDomain) => platformCallbackUri(config, providerId, baseDomain));
}

/** The transaction cookie: one sign-in at a time per browser on the auth host. */
function transactionCookieName(config: Config): string {
  return config.publicScheme === 'https' ? '__Host-sidechart-sso' : 'sidechart-sso';
}

const Text = Type.String({ minLength: 1 });
/** What every transaction cookie holds of its code flow: the provider, state, nonce, PKCE verifier. */
const FlowClaims = { pid: Text, st: Text, n: Text, v: Text };
/** The claims of the signed transaction cookie of a sign-in (tokens.ts `transaction`). */
const transactionClaims = shapeOf(Type.Object({ tid: Text, slug: Text, aid: Text, ...FlowClaims }));
/** The transaction of a sign-up (no clinic yet): the signed sign-up request instead of an attempt. */
const signupTransactionClaims = shapeOf(Type.Object({ k: Type.Literal('signup'), req: Text, ...FlowClaims }));

interface Transaction {
  tenantId: string;
  slug: string;
  attemptId: string;
  providerId: string;
  state: string;
  nonce: string;
  codeVerifier: string;
}

interface SignupTransaction {
  signupRequest: string;
  providerId: string;
  state: string;
  nonce: string;
  codeVerifier: string;
}

export async function platformAuthHostRoutes(fastify: FastifyInstance, options: PlatformAuthHostOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { config, clinics, providers, tokens, handoffs } = options;
  const https = config.publicScheme === 'https';
  const cookieName = transactionCookieName(config);
  const cookieOptions = { path: '/', httpOnly: true, secure: https, sameSite: 'lax' as const };
  if (!app.hasReplyDecorator('setCookie')) await app.register(cookie);

  app.addHook('onRequest', async (request) => {
    if (request.site?.kind !== 'reserved' || request.site.label !== AUTH_HOST_LABEL) throw httpErrors.notFound();
  });

  /** The provider and its client configuration; one that is down is tried again when its wait is over. */
  async function providerFor(id: string) {
    const provider = providers.find(id);
    if (provider === undefined) throw ssoErrors.notEnabled('this provider');
    return { provider, configuration: await providers.configurationFor(id) };
  }

  const limited = signInRateLimit(options.config.load.signInPerMinute);

  /** The provider's authorization URL for a new transaction, and that transaction's secrets. */
  async function authorization(configuration: oidc.Configuration, providerId: string, baseDomain: string) {
    const secrets = { state: oidc.randomState(), nonce: oidc.randomNonce(), codeVerifier: oidc.randomPKCECodeVerifier() };
    const url = oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: platformCallbackUri(config, providerId, baseDomain),
      scope: 'openid email profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(secrets.codeVerifier),
      code_challenge_method: 'S256',
      state: secrets.state,
      nonce: secrets.nonce,
    });
    return { url, ...secrets };
  }

  app.get(
    '/sso/:provider/start',
    {
      config: limited,
      schema: {
        params: ProviderParams,
        querystring: Type.Object({ tenant: Type.String({ maxLength: 63 }), attempt: Type.String({ maxLength: 2048 }) }),
      },
    },
    async (request, reply) => {
      const baseDomain = requestBaseDomain(request);
      const claims = await tokens.verify('attempt', request.query.attempt);
      const tenantId = claims && stringClaim(claims, 'tid');
      const attemptId = claims && stringClaim(claims, 'aid');
      if (
        !claims ||
        tenantId === null ||
        attemptId === null ||
        stringClaim(claims, 'pid') !== request.params.provider ||
        stringClaim(claims, 'slug') !== request.query.tenant ||
        // Minted for another base domain: the hand-off would go where the attempt is not.
        stringClaim(claims, 'bd') !== baseDomain
      ) {
        throw ssoErrors.attemptMissing();
      }
      // The clinic the reference names, if it may still be served: a clinic that is gone, suspended
      // or being set up reads as "no attempt"; a database that cannot be reached says so (503).
      let clinic;
      try {
        clinic = await clinics.open(request.query.tenant, { for: 'visitor' });
      } catch (error) {
        // A clinic of another region: its settings are read there (tenancy/forward.ts).
        const forwarded = await forwardElsewhere(request, reply, error);
        if (forwarded !== null) return forwarded;
        if (!isAppError(error) || error.statusCode >= 500) throw error;
        clinic = null;
      }
      if (clinic === null || clinic.tenant.id !== tenantId) throw ssoErrors.attemptMissing();
      // The sign-in would end on a clinic that cannot store a session now (tenancy/read-only.ts).
      if (isReadOnly(clinic.tenant)) throw tenancyErrors.clinicReadOnly('sign-in');
      const { tenant } = clinic;
      request.backLink = signInPageLink(tenantUrl(config, tenant.slug, '/login', baseDomain));
      const { provider, configuration } = await providerFor(request.params.provider);
      const settings = await getAuthSettings(clinic.db);
      if (!settings.platformProviders.includes(provider.id)) throw ssoErrors.notEnabled(provider.config.name);

      const { url: authorizationUrl, ...secrets } = await authorization(configuration, provider.id, baseDomain);
      const transaction: Transaction = { tenantId: tenant.id, slug: tenant.slug, attemptId, providerId: provider.id, ...secrets };
      const signed = await tokens.sign(
        'transaction',
        { tid: transaction.tenantId, slug: transaction.slug, aid: attemptId, pid: provider.id, st: transaction.state, n: transaction.nonce, v: transaction.codeVerifier },
        PLATFORM_LOGIN_TTL_SECONDS,
      );
      reply.setCookie(cookieName, signed, { ...cookieOptions, maxAge: PLATFORM_LOGIN_TTL_SECONDS });
      reply.header('cache-control', 'no-store');
      return reply.redirect(authorizationUrl.href, 303);
    },
  );

  // Sign-up with this provider: the platform host checked the form and signed it (provider-signup.ts).
  app.get(
    '/sso/:provider/signup',
    { config: limited, schema: { params: ProviderParams, querystring: Type.Object({ request: Type.String({ maxLength: 4096 }) }) } },
    async (request, reply) => {
      const { signup } = options;
      if (signup === undefined) throw httpErrors.notFound();
      const baseDomain = requestBaseDomain(request);
      request.backLink = { href: signup.formUrl(baseDomain), label: 'Back to the sign-up form' };
      if (!(await signup.accepts(request.query.request, request.params.provider, baseDomain))) throw ssoErrors.signupRequestInvalid();
      const { provider, configuration } = await providerFor(request.params.provider);
      const { url, state, nonce, codeVerifier } = await authorization(configuration, provider.id, baseDomain);
      const signed = await tokens.sign('transaction', { k: 'signup', req: request.query.request, pid: provider.id, st: state, n: nonce, v: codeVerifier }, PLATFORM_LOGIN_TTL_SECONDS);
      reply.setCookie(cookieName, signed, { ...cookieOptions, maxAge: PLATFORM_LOGIN_TTL_SECONDS });
      reply.header('cache-control', 'no-store');
      return reply.redirect(url.href, 303);
    },
  );

  app.get(
    '/sso/:provider/callback',
    { schema: { params: ProviderParams, querystring: AuthorizationResponseQuery }, config: limited },
    async (request, reply) => {
      const baseDomain = requestBaseDomain(request);
      reply.header('cache-control', 'no-store');
      // Single use: whatever happens next, this browser's transaction is over.
      reply.clearCookie(cookieName, cookieOptions);
      const cookieValue = request.cookies[cookieName];
      const transaction = (await readTransaction(cookieValue)) ?? (options.signup ? await readSignupTransaction(cookieValue) : null);
      if (transaction === null || transaction.providerId !== request.params.provider) throw ssoErrors.attemptMissing();
      request.backLink =
        'signupRequest' in transaction
          ? { href: options.signup!.formUrl(baseDomain), label: 'Back to the sign-up form' }
          : signInPageLink(tenantUrl(config, transaction.slug, '/login', baseDomain));
      const { provider, configuration } = await providerFor(request.params.provider);
      const metadata = configuration.serverMetadata();
      const { query } = request;
      // RFC 9207: an answer naming another issuer is refused before its code goes anywhere.
      if (query.iss !== undefined ? query.iss !== metadata.issuer : metadata.authorization_response_iss_parameter_supported === true) {
        throw ssoErrors.issuerMismatch();
      }
      if (query.state !== transaction.state) throw ssoErrors.stateMismatch();
      if (query.error !== undefined) throw ssoErrors.denied();
      if (query.code === undefined) throw ssoErrors.tokenInvalid();

      const claims = await exchangeCode(configuration, {
        redirectUri: platformCallbackUri(config, provider.id, baseDomain),
        requestUrl: request.url,
        codeVerifier: transaction.codeVerifier,
        state: transaction.state,
        nonce: transaction.nonce,
        label: provider.config.name,
      });
      if (claims === undefined || claims.iss !== metadata.issuer) throw ssoErrors.tokenInvalid();
      if (typeof claims.sub !== 'string' || claims.sub === '' || claims.sub.length > 255) throw ssoErrors.tokenInvalid();

      if ('signupRequest' in transaction) {
        const email = typeof claims.email === 'string' ? normalizeEmail(claims.email) : null;
        const next = await options.signup!.complete(
          transaction.signupRequest,
          { providerId: provider.id, issuer: metadata.issuer, subject: claims.sub, email },
          { baseDomain, log: request.log, origin: requestOrigin(request) },
        );
        return reply.redirect(next, 303);
      }

      const token = await handoffs.create(transaction.tenantId, {
        attemptId: transaction.attemptId,
        providerId: provider.id,
        issuer: metadata.issuer,
        subject: claims.sub,
        email: typeof claims.email === 'string' ? normalizeEmail(claims.email) : null,
        emailVerified: claims.email_verified === true,
        name: typeof claims.name === 'string' ? claims.name.slice(0, 200) : null,
      });
      return reply.redirect(tenantUrl(config, transaction.slug, `/login/sso/complete?token=${encodeURIComponent(token)}`, baseDomain), 303);
    },
  );

  async function readSignupTransaction(cookie: string | undefined): Promise<SignupTransaction | null> {
    const claims = await tokens.verify('transaction', cookie);
    if (!signupTransactionClaims.check(claims)) return null;
    return { signupRequest: claims.req, providerId: claims.pid, state: claims.st, nonce: claims.n, codeVerifier: claims.v };
  }

  async function readTransaction(cookie: string | undefined): Promise<Transaction | null> {
    const claims = await tokens.verify('transaction', cookie);
    if (!transactionClaims.check(claims)) return null;
    return { tenantId: claims.tid, slug: claims.slug, attemptId: claims.aid, providerId: claims.pid, state: claims.st, nonce: claims.n, codeVerifier: claims.v };
  }
}
