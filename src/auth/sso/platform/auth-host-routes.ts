// The auth host (`auth.<base domain>`, a reserved label): where platform providers send users back
// (issue 3 point 5). Identity providers need exact redirect URIs, and a platform-wide client cannot
// list every clinic's host, so there is one callback per provider here:
//
//   GET /sso/:provider/start?tenant=<slug>&attempt=<signed attempt reference>
//     checks the reference (minted by the clinic's host, see platform-routes.ts), that the clinic
//     exists and allows this provider, then starts the code flow through @fastify/oauth2 (state and
//     PKCE S256 from the plugin) with a nonce added here; state, nonce, clinic and attempt are kept
//     in a signed, short-lived, HttpOnly cookie on this host.
//   GET /sso/:provider/callback?code&state&iss
//     checks the cookie, state and the RFC 9207 `iss` parameter, exchanges the code (the plugin
//     sends the PKCE verifier), validates the ID token with jose (signature against the issuer's
//     JWKS, iss, aud, azp, exp, nonce), stores a hand-off (handoff.ts) and sends the browser to
//     `<clinic origin>/login/sso/complete?token=...`, where the clinic's own session is created.
//
// No session exists on this host and nothing here signs anyone in.
import { signInRateLimit } from '../../../infra/load.ts';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import cookie from '@fastify/cookie';
import oauth2, { type OAuth2Namespace } from '@fastify/oauth2';
import { jwtVerify, type JWTPayload } from 'jose';
import type { Config } from '../../../config.ts';
import { httpErrors, isAppError } from '../../../infra/errors.ts';
import { shapeOf } from '../../../infra/schemas.ts';
import { originFor, tenantUrl } from '../../../infra/urls.ts';
import type { Clinics } from '../../../tenancy/clinic.ts';
import type { Handoffs } from './handoffs.ts';
import { AuthorizationResponseQuery } from '../attempt.ts';
import { ProviderParams, type PlatformProvider } from './providers.ts';
import { getAuthSettings } from '../../settings.ts';
import { classifyProviderError, signInPageLink, ssoErrors } from '../errors.ts';
import { stringClaim, type SsoTokens } from '../tokens.ts';
import { normalizeEmail } from '../../users.ts';

export const AUTH_HOST_LABEL = 'auth';
/** How long a sign-in at a platform provider may take, from the clinic's button to the callback. */
export const PLATFORM_LOGIN_TTL_SECONDS = 600;

export interface PlatformAuthHostOptions {
  config: Config;
  clinics: Clinics;
  providers: readonly PlatformProvider[];
  tokens: SsoTokens;
  handoffs: Handoffs;
}

export function platformCallbackUri(config: Config, providerId: string): string {
  return `${originFor(config, AUTH_HOST_LABEL)}/sso/${providerId}/callback`;
}

/** The transaction cookie: one sign-in at a time per browser on the auth host. */
function transactionCookieName(config: Config): string {
  return config.publicScheme === 'https' ? '__Host-sidechart-sso' : 'sidechart-sso';
}

/** The claims of the signed transaction cookie (tokens.ts `transaction`). */
const TransactionClaims = Type.Object({
  tid: Type.String({ minLength: 1 }),
  slug: Type.String({ minLength: 1 }),
  aid: Type.String({ minLength: 1 }),
  pid: Type.String({ minLength: 1 }),
  st: Type.String({ minLength: 1 }),
  n: Type.String({ minLength: 1 }),
});
const transactionClaims = shapeOf(TransactionClaims);

interface Transaction {
  tenantId: string;
  slug: string;
  attemptId: string;
  providerId: string;
  state: string;
  nonce: string;
}

export async function platformAuthHostRoutes(fastify: FastifyInstance, options: PlatformAuthHostOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { config, clinics, tokens, handoffs } = options;
  const https = config.publicScheme === 'https';
  const cookieName = transactionCookieName(config);
  const cookieOptions = { path: '/', httpOnly: true, secure: https, sameSite: 'lax' as const };
  const clients = new Map<string, OAuth2Namespace>();
  // The verified transaction of a callback request, for the plugin's checkStateFunction.
  const transactionOf = new WeakMap<FastifyRequest, Transaction>();
  if (!app.hasReplyDecorator('setCookie')) await app.register(cookie);

  for (const provider of options.providers) {
    if (!provider.available) continue;
    const name = `platformSso_${provider.id.replaceAll('-', '_')}`;
    const authorize = new URL(provider.metadata.authorizationEndpoint);
    const token = new URL(provider.metadata.tokenEndpoint);
    await app.register(oauth2, {
      name,
      scope: ['openid', 'email', 'profile'],
      credentials: {
        client: { id: provider.config.clientId, secret: provider.config.clientSecret },
        auth: { authorizeHost: authorize.origin, authorizePath: authorize.pathname, tokenHost: token.origin, tokenPath: token.pathname },
        options: { authorizationMethod: 'header' },
        http: { timeout: config.oidc.httpTimeoutMs },
      },
      callbackUri: platformCallbackUri(config, provider.id),
      pkce: 'S256',
      // State is compared with the signed transaction cookie, not with the plugin's unsigned one.
      generateStateFunction: () => randomBytes(32).toString('base64url'),
      checkStateFunction: (request: FastifyRequest) => {
        const state = (request.query as { state?: unknown }).state;
        return typeof state === 'string' && state === transactionOf.get(request)?.state;
      },
      cookie: { path: `/sso/${provider.id}/`, secure: https, sameSite: 'lax', httpOnly: true, maxAge: PLATFORM_LOGIN_TTL_SECONDS },
      userAgent: 'sidechart',
    });
    clients.set(provider.id, app.getDecorator<OAuth2Namespace>(name));
  }

  app.addHook('onRequest', async (request) => {
    if (request.site?.kind !== 'reserved' || request.site.label !== AUTH_HOST_LABEL) throw httpErrors.notFound();
  });

  function providerFor(id: string): { provider: PlatformProvider & { available: true }; client: OAuth2Namespace } {
    const provider = options.providers.find((p) => p.id === id);
    if (provider === undefined) throw ssoErrors.notEnabled('this provider');
    if (!provider.available) throw ssoErrors.unavailable(provider.config.name);
    return { provider, client: clients.get(id)! };
  }

  const limited = signInRateLimit(options.config.load.signInPerMinute);

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
      const { provider, client } = providerFor(request.params.provider);
      const claims = await tokens.verify('attempt', request.query.attempt);
      const tenantId = claims && stringClaim(claims, 'tid');
      const attemptId = claims && stringClaim(claims, 'aid');
      if (!claims || tenantId === null || attemptId === null || stringClaim(claims, 'pid') !== provider.id || stringClaim(claims, 'slug') !== request.query.tenant) {
        throw ssoErrors.attemptMissing();
      }
      // The clinic the reference names, if it may still be served: a clinic that is gone, suspended
      // or being set up reads as "no attempt"; a database that cannot be reached says so (503).
      const clinic = await clinics.open(request.query.tenant, { for: 'visitor' }).catch((error: unknown) => {
        if (isAppError(error) && error.statusCode < 500) return null;
        throw error;
      });
      if (clinic === null || clinic.tenant.id !== tenantId) throw ssoErrors.attemptMissing();
      const { tenant } = clinic;
      request.backLink = signInPageLink(tenantUrl(config, tenant.slug, '/login'));
      const settings = await getAuthSettings(clinic.db);
      if (!settings.platformProviders.includes(provider.id)) throw ssoErrors.notEnabled(provider.config.name);

      const nonce = randomBytes(32).toString('base64url');
      const authorizationUrl = new URL(await client.generateAuthorizationUri(request, reply));
      const state = authorizationUrl.searchParams.get('state');
      if (state === null) throw new Error('@fastify/oauth2 built an authorization URL without state');
      authorizationUrl.searchParams.set('nonce', nonce);
      const transaction = await tokens.sign(
        'transaction',
        { tid: tenant.id, slug: tenant.slug, aid: attemptId, pid: provider.id, st: state, n: nonce },
        PLATFORM_LOGIN_TTL_SECONDS,
      );
      reply.setCookie(cookieName, transaction, { ...cookieOptions, maxAge: PLATFORM_LOGIN_TTL_SECONDS });
      reply.header('cache-control', 'no-store');
      return reply.redirect(authorizationUrl.href, 303);
    },
  );

  app.get(
    '/sso/:provider/callback',
    { schema: { params: ProviderParams, querystring: AuthorizationResponseQuery }, config: limited },
    async (request, reply) => {
      const { provider, client } = providerFor(request.params.provider);
      reply.header('cache-control', 'no-store');
      // Single use: whatever happens next, this browser's transaction is over.
      reply.clearCookie(cookieName, cookieOptions);
      const transaction = await readTransaction(request.cookies[cookieName]);
      if (transaction === null || transaction.providerId !== provider.id) throw ssoErrors.attemptMissing();
      request.backLink = signInPageLink(tenantUrl(config, transaction.slug, '/login'));
      const { query } = request;
      // RFC 9207: an answer naming another issuer is refused before its code goes anywhere.
      if (query.iss !== undefined ? query.iss !== provider.metadata.issuer : provider.metadata.issParameterSupported) {
        throw ssoErrors.issuerMismatch();
      }
      if (query.state !== transaction.state) throw ssoErrors.stateMismatch();
      if (query.error !== undefined) throw ssoErrors.denied();
      if (query.code === undefined) throw ssoErrors.tokenInvalid();

      transactionOf.set(request, transaction);
      let idToken: string | undefined;
      try {
        idToken = (await client.getAccessTokenFromAuthorizationCodeFlow(request, reply)).token.id_token;
      } catch (error) {
        throw classifyProviderError(error, provider.config.name, 'callback') ?? error;
      }
      if (typeof idToken !== 'string') throw ssoErrors.tokenInvalid();
      const claims = await verifyIdToken(provider, idToken, transaction.nonce);

      const token = await handoffs.create(transaction.tenantId, {
        attemptId: transaction.attemptId,
        providerId: provider.id,
        issuer: provider.metadata.issuer,
        subject: claims.sub!,
        email: typeof claims.email === 'string' ? normalizeEmail(claims.email) : null,
        emailVerified: claims.email_verified === true,
        name: typeof claims.name === 'string' ? claims.name.slice(0, 200) : null,
      });
      return reply.redirect(tenantUrl(config, transaction.slug, `/login/sso/complete?token=${encodeURIComponent(token)}`), 303);
    },
  );

  async function readTransaction(cookie: string | undefined): Promise<Transaction | null> {
    const claims = await tokens.verify('transaction', cookie);
    if (!transactionClaims.check(claims)) return null;
    return { tenantId: claims.tid, slug: claims.slug, attemptId: claims.aid, providerId: claims.pid, state: claims.st, nonce: claims.n };
  }

  async function verifyIdToken(provider: PlatformProvider & { available: true }, idToken: string, nonce: string): Promise<JWTPayload> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(idToken, provider.jwks, {
        issuer: provider.metadata.issuer,
        audience: provider.config.clientId,
        algorithms: provider.metadata.idTokenAlgorithms,
        requiredClaims: ['sub', 'exp', 'iat', 'nonce'],
        maxTokenAge: `${PLATFORM_LOGIN_TTL_SECONDS}s`,
        clockTolerance: 30,
      }));
    } catch (error) {
      throw classifyProviderError(error, provider.config.name, 'callback') ?? ssoErrors.tokenInvalid();
    }
    // OIDC Core 3.1.3.7: with several audiences, azp must be us.
    const multipleAudiences = Array.isArray(payload.aud) && payload.aud.length > 1;
    if ((multipleAudiences || payload.azp !== undefined) && payload.azp !== provider.config.clientId) throw ssoErrors.tokenInvalid();
    if (payload.nonce !== nonce) throw ssoErrors.tokenInvalid();
    if (typeof payload.sub !== 'string' || payload.sub === '' || payload.sub.length > 255) throw ssoErrors.tokenInvalid();
    return payload;
  }
}
