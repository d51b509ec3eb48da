// Single sign-on, wired once at boot: the clinic's own OpenID provider (clinic/), platform
// providers on the clinic's host and on the auth host (platform/). Platform providers are
// discovered here; one that does not answer is logged, shown as unavailable and retried
// (platform/providers.ts) rather than stopping the app. Registered after the session plugin (the
// routes use request.session).
// Wrapped with fastify-plugin only to decorate the app with `platformProviders` (the sign-in page
// lists them); its route plugins stay encapsulated.
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config.ts';
import type { SecretBox } from '../../infra/crypto.ts';
import type { Clinics } from '../../tenancy/clinic.ts';
import type { OidcClients } from './clinic/clients.ts';
import { clinicOidcRoutes } from './clinic/clinic-host-routes.ts';
import { platformAuthHostRoutes, type ProviderSignupHandler } from './platform/auth-host-routes.ts';
import type { Handoffs } from './platform/handoffs.ts';
import type { PlatformProvider, PlatformProviders } from './platform/providers.ts';
import { platformClinicHostRoutes } from './platform/clinic-host-routes.ts';
import type { SsoTokens } from './tokens.ts';

export interface SsoPluginOptions {
  config: Config;
  box: SecretBox;
  tokens: SsoTokens;
  handoffs: Handoffs;
  oidcClients: OidcClients;
  platformProviders: PlatformProviders;
  clinics: Clinics;
  /** Sign-up with a platform provider (its code flow runs on the auth host). */
  signup?: ProviderSignupHandler;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every platform provider, with whether it is available now (the sign-in page lists them). */
    platformProviders: readonly PlatformProvider[];
  }
}

async function sso(app: FastifyInstance, options: SsoPluginOptions): Promise<void> {
  const { config, platformProviders: providers } = options;
  await providers.start();
  app.decorate('platformProviders', providers.list());

  await app.register(clinicOidcRoutes, { config, clients: options.oidcClients, box: options.box });
  if (providers.list().length > 0) {
    await app.register(platformClinicHostRoutes, { config, providers, tokens: options.tokens, handoffs: options.handoffs });
    await app.register(platformAuthHostRoutes, {
      config,
      providers,
      tokens: options.tokens,
      handoffs: options.handoffs,
      clinics: options.clinics,
      ...(options.signup ? { signup: options.signup } : {}),
    });
  }
}

export const ssoPlugin = fp(sso, { name: 'sidechart-sso', fastify: '5.x', dependencies: ['sidechart-sessions'] });
