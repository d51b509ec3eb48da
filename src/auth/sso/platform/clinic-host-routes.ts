// Platform providers, the clinic's side (issue 3 point 5). The callback lives on the auth host
// (platform.ts); the clinic's host starts the sign-in and finishes it:
//
//   GET /login/sso/:provider   the provider must be one the clinic allows, and available (one that
//                              was down is tried again here when its wait is over); records a
//                              login attempt (random id, provider, time) in the pre-login session
//                              and sends the browser to the auth host of the same base domain with
//                              a signed reference to it.
//   GET /login/sso/complete    consumes the hand-off token (single use), and accepts it only if it
//                              was made for this clinic and for the attempt in this browser's own
//                              session; re-checks that the clinic still allows the provider, then
//                              matches (issuer, subject) or admits by the clinic's rules, and signs in
//                              with a session on this host.
import { signInRateLimit } from '../../../infra/load.ts';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from '../../../config.ts';
import { originFor } from '../../../infra/urls.ts';
import { requestBaseDomain, requireClinic, requireTenant } from '../../../tenancy/plugin.ts';
import type { Handoffs } from './handoffs.ts';
import { AUTH_HOST_LABEL, PLATFORM_LOGIN_TTL_SECONDS } from './auth-host-routes.ts';
import { ProviderParams, type PlatformProviders } from './providers.ts';
import { getAuthSettings } from '../../settings.ts';
import { signIn } from '../../session/sign-in.ts';
import { admitSsoUser } from '../accounts.ts';
import { readAttempt, type PlatformAttempt } from '../attempt.ts';
import { signInPageLink, ssoErrors } from '../errors.ts';
import type { SsoTokens } from '../tokens.ts';

export interface PlatformClinicHostRoutesOptions {
  config: Config;
  providers: PlatformProviders;
  tokens: SsoTokens;
  handoffs: Handoffs;
}

export function platformLoginPath(providerId: string): string {
  return `/login/sso/${providerId}`;
}

export async function platformClinicHostRoutes(fastify: FastifyInstance, options: PlatformClinicHostRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { config, providers, tokens, handoffs } = options;
  app.addHook('onRequest', async (request) => {
    request.backLink = signInPageLink('/login');
  });
  app.addHook('preHandler', requireTenant);

  app.get(
    '/login/sso/complete',
    { schema: { querystring: Type.Object({ token: Type.String({ maxLength: 4096 }) }) }, config: { ...signInRateLimit(config.load.signInPerMinute), whileReadOnly: 'sign-in' } },
    async (request, reply) => {
      const { tenant, db } = requireClinic(request);
      reply.header('cache-control', 'no-store');
      // Both are single use: the token is burnt and the attempt leaves the session, whatever follows.
      const handoff = await handoffs.consume(request.query.token);
      const attempt = readAttempt(request.session.oidc, 'platform');
      request.session.oidc = undefined;
      if (
        handoff === null ||
        handoff.tenantId !== tenant.id ||
        attempt === null ||
        attempt.attemptId !== handoff.payload.attemptId ||
        attempt.providerId !== handoff.payload.providerId
      ) {
        throw ssoErrors.handoffInvalid();
      }
      const { payload } = handoff;
      const provider = providers.find(payload.providerId);
      if (provider === undefined || provider.issuer !== payload.issuer) throw ssoErrors.handoffInvalid();
      const settings = await getAuthSettings(db);
      if (!settings.platformProviders.includes(provider.id)) throw ssoErrors.notEnabled(provider.config.name);

      const identity = { issuer: payload.issuer, subject: payload.subject, email: payload.email, emailVerified: payload.emailVerified, name: payload.name };
      const result = await admitSsoUser(db, identity, { admit: settings.oidcAdmit, allowedEmailDomains: settings.allowedEmailDomains });
      if (!result.admitted) {
        throw result.reason === 'disabled' ? ssoErrors.disabled(tenant.displayName) : ssoErrors.notAdmitted(tenant.displayName, identity.email);
      }
      request.log.info({ event: 'sso_sign_in', method: 'platform', provider: provider.id, userId: result.userId, outcome: result.outcome }, 'signed in with a platform provider');
      return signIn(request, reply, { id: result.userId }, { method: 'platform' });
    },
  );

  app.get(
    '/login/sso/:provider',
    { schema: { params: ProviderParams }, config: { ...signInRateLimit(config.load.signInPerMinute), whileReadOnly: 'sign-in' } },
    async (request, reply) => {
      const { tenant, db } = requireClinic(request);
      const baseDomain = requestBaseDomain(request);
      const provider = providers.find(request.params.provider);
      const settings = await getAuthSettings(db);
      if (provider === undefined || !settings.platformProviders.includes(provider.id)) throw ssoErrors.notEnabled(provider?.config.name ?? 'this provider');
      // Down at boot or since: discovery is tried again now if its wait is over, else a 503 page.
      await providers.configurationFor(provider.id);

      const attempt: PlatformAttempt = { kind: 'platform', attemptId: randomBytes(16).toString('base64url'), providerId: provider.id, createdAt: Date.now() };
      request.session.oidc = { ...attempt };
      // The auth host of the base domain this browser is on: the hand-off must come back to this
      // host, where the attempt is kept in a host-only session.
      const reference = await tokens.sign('attempt', { tid: tenant.id, slug: tenant.slug, bd: baseDomain, aid: attempt.attemptId, pid: provider.id }, PLATFORM_LOGIN_TTL_SECONDS);
      const start = new URL(`${originFor(config, AUTH_HOST_LABEL, baseDomain)}/sso/${provider.id}/start`);
      start.searchParams.set('tenant', tenant.slug);
      start.searchParams.set('attempt', reference);
      reply.header('cache-control', 'no-store');
      return reply.redirect(start.href, 303);
    },
  );
}
