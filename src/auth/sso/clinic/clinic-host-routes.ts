// Sign-in with the clinic's own OpenID provider (issue 3 point 6), on the clinic's host:
//
//   GET /login/oidc            discovery (cached per clinic, oidc-client.ts), then the authorization
//                              request: code + PKCE S256 + state + nonce; the attempt, with the
//                              issuer it must come back from, is kept in the pre-login session.
//   GET /login/oidc/callback   takes the attempt out of the session (single use), refuses an answer
//                              from another issuer (RFC 9207 `iss`) or for another state, exchanges
//                              the code with the verifier, and lets openid-client check the ID token
//                              (signature, iss, aud, exp, nonce). Then the user is matched by
//                              (issuer, subject) or admitted by the clinic's rules, and signed in.
//
// The redirect URI is built from configuration and the clinic's stored slug, never from the Host:
// with several base domains, on the one this request came in on (the session that holds the attempt
// is host-only, so the callback comes back to the same host), and the clinic's provider must list
// the URI for every base domain its staff use (`sidechart sso show` prints them).
import { signInRateLimit } from '../../../infra/load.ts';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import * as oidc from 'openid-client';
import type { Config } from '../../../config.ts';
import type { SecretBox } from '../../../infra/crypto.ts';
import { tenantUrl } from '../../../infra/urls.ts';
import { requestBaseDomain, requireClinic, requireTenant } from '../../../tenancy/plugin.ts';
import type { OidcClients } from './clients.ts';
import { getAuthSettings } from '../../settings.ts';
import { signIn } from '../../session/sign-in.ts';
import { admitSsoUser } from '../accounts.ts';
import { AuthorizationResponseQuery, readAttempt, type ClinicOidcAttempt } from '../attempt.ts';
import { signInPageLink } from '../errors.ts';
import { classifyProviderError, ssoErrors } from '../errors.ts';
import { exchangeCode } from '../discovery.ts';
import { clientSecretAad, clinicOidcOf } from '../settings.ts';
import { normalizeEmail } from '../../users.ts';

export const OIDC_LOGIN_PATH = '/login/oidc';
export const OIDC_CALLBACK_PATH = '/login/oidc/callback';

type UrlConfig = Pick<Config, 'publicScheme' | 'publicPort' | 'baseDomains'>;

export function oidcRedirectUri(config: UrlConfig, slug: string, baseDomain?: string): string {
  return tenantUrl(config, slug, OIDC_CALLBACK_PATH, baseDomain);
}

/** The redirect URIs to register at the clinic's provider: one per base domain. */
export function oidcRedirectUris(config: UrlConfig, slug: string): string[] {
  return config.baseDomains.map((baseDomain) => oidcRedirectUri(config, slug, baseDomain));
}

/** How the clinic's provider is named on pages: its host, which staff recognise from its sign-in page. */
function providerLabel(issuer: string): string {
  return `Your clinic's sign-in service (${new URL(issuer).host})`;
}

export interface ClinicOidcRoutesOptions {
  config: Config;
  clients: OidcClients;
  box: SecretBox;
}

export async function clinicOidcRoutes(fastify: FastifyInstance, options: ClinicOidcRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { config, clients, box } = options;
  app.addHook('onRequest', async (request) => {
    request.backLink = signInPageLink('/login');
  });
  app.addHook('preHandler', requireTenant);

  /** The clinic's provider configuration, or the page that says why there is none. */
  async function clinicProvider(tenant: { id: string; schemaName: string }, settings: Awaited<ReturnType<typeof getAuthSettings>>) {
    const own = clinicOidcOf(settings);
    if (own === null) throw ssoErrors.notEnabled("your clinic's own identity provider");
    const label = providerLabel(own.issuer);
    let clientSecret: string;
    try {
      clientSecret = box.open(own.clientSecretSealed, clientSecretAad(tenant.schemaName));
    } catch (error) {
      // A secret sealed under a key no longer configured (or copied from elsewhere): a setup problem.
      const failure = ssoErrors.misconfigured(label);
      failure.cause = error;
      throw failure;
    }
    try {
      const configuration = await clients.get(tenant.id, { issuer: own.issuer, clientId: own.clientId, clientSecret });
      return { configuration, label };
    } catch (error) {
      throw classifyProviderError(error, label, 'discovery') ?? error;
    }
  }

  // Both routes store a session (and the callback maybe a user): refused while the clinic is read-only.
  const limited = { ...signInRateLimit(config.load.signInPerMinute), whileReadOnly: 'sign-in' as const };

  app.get(OIDC_LOGIN_PATH, { config: limited }, async (request, reply) => {
    const { tenant, db } = requireClinic(request);
    const baseDomain = requestBaseDomain(request);
    const { configuration } = await clinicProvider(tenant, await getAuthSettings(db));
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const attempt: ClinicOidcAttempt = {
      kind: 'clinic',
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      codeVerifier,
      expectedIssuer: configuration.serverMetadata().issuer,
      createdAt: Date.now(),
    };
    request.session.oidc = { ...attempt };
    const url = oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: oidcRedirectUri(config, tenant.slug, baseDomain),
      scope: 'openid email profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state: attempt.state,
      nonce: attempt.nonce,
    });
    reply.header('cache-control', 'no-store');
    return reply.redirect(url.href, 303);
  });

  app.get(
    OIDC_CALLBACK_PATH,
    { schema: { querystring: AuthorizationResponseQuery }, config: limited },
    async (request, reply) => {
      const { tenant, db } = requireClinic(request);
      const baseDomain = requestBaseDomain(request);
      reply.header('cache-control', 'no-store');
      // Single use: the attempt leaves the session before anything is checked.
      const attempt = readAttempt(request.session.oidc, 'clinic');
      request.session.oidc = undefined;
      if (attempt === null) throw ssoErrors.attemptMissing();
      const { query } = request;
      // Mix-up defence (RFC 9207): the answer must name the issuer this attempt was sent to.
      if (query.iss !== undefined && query.iss !== attempt.expectedIssuer) throw ssoErrors.issuerMismatch();
      if (query.state !== attempt.state) throw ssoErrors.stateMismatch();

      const settings = await getAuthSettings(db);
      const { configuration, label } = await clinicProvider(tenant, settings);
      // The clinic changed its provider while this sign-in was under way.
      if (configuration.serverMetadata().issuer !== attempt.expectedIssuer) throw ssoErrors.issuerMismatch();

      const claims = await exchangeCode(configuration, {
        redirectUri: oidcRedirectUri(config, tenant.slug, baseDomain),
        requestUrl: request.url,
        codeVerifier: attempt.codeVerifier,
        state: attempt.state,
        nonce: attempt.nonce,
        label,
      });
      if (claims === undefined || claims.iss !== attempt.expectedIssuer) throw ssoErrors.issuerMismatch();

      const identity = {
        issuer: claims.iss,
        subject: claims.sub,
        email: typeof claims.email === 'string' ? normalizeEmail(claims.email) : null,
        emailVerified: claims.email_verified === true,
        name: typeof claims.name === 'string' ? claims.name.slice(0, 200) : null,
      };
      const result = await admitSsoUser(db, identity, { admit: settings.oidcAdmit, allowedEmailDomains: settings.allowedEmailDomains });
      if (!result.admitted) {
        throw result.reason === 'disabled' ? ssoErrors.disabled(tenant.displayName) : ssoErrors.notAdmitted(tenant.displayName, identity.email);
      }
      request.log.info({ event: 'sso_sign_in', method: 'oidc', userId: result.userId, outcome: result.outcome }, 'signed in with the clinic\'s provider');
      return signIn(request, reply, { id: result.userId }, { method: 'oidc' });
    },
  );
}
