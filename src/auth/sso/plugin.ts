// Single sign-on, wired once at boot: the clinic's own OpenID provider (oidc-routes.ts), platform
// providers on the clinic's host (platform-routes.ts) and on the auth host (platform.ts). Platform
// providers are discovered here; one that does not answer is logged and shown as unavailable
// rather than stopping the app. Registered after the session plugin (it uses request.session).
import type { FastifyInstance } from 'fastify';
import { createSecretBox, parseKeyring } from '../../infra/crypto.ts';
import { resolveSecrets } from '../../infra/secrets.ts';
import type { Runtime } from '../../runtime.ts';
import { createHandoffs } from './platform/handoffs.ts';
import { createOidcClients, type OidcClients } from './clinic/clients.ts';
import { clinicOidcRoutes } from './clinic/clinic-host-routes.ts';
import { platformAuthHostRoutes } from './platform/auth-host-routes.ts';
import { discoverPlatformProviders, type PlatformProvider } from './platform/providers.ts';
import { platformTenantRoutes } from './platform/clinic-host-routes.ts';
import { createSsoTokens } from './tokens.ts';

export interface SsoRoutesOptions {
  runtime: Runtime;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Platform providers as discovered at boot (the sign-in page lists the available ones). */
    platformProviders: readonly PlatformProvider[];
    /** Per-clinic openid-client configurations; the admin pages call invalidate() after a change. */
    oidcClients: OidcClients;
  }
}

export async function registerSso(app: FastifyInstance, options: SsoRoutesOptions): Promise<void> {
  const { runtime } = options;
  const { config } = runtime;
  const secrets = resolveSecrets(config);
  const tokens = createSsoTokens(secrets.sessionSecret);
  const box = createSecretBox(parseKeyring(secrets.encryptionKeys));
  const handoffs = createHandoffs({ control: runtime.databases.control, tokens });
  const clients = createOidcClients({
    ttlMs: config.oidc.discoveryTtlMs,
    timeoutMs: config.oidc.httpTimeoutMs,
    allowHttpIssuers: config.oidc.allowHttpIssuers,
  });
  const providers = await discoverPlatformProviders(config.platformProviders, {
    timeoutMs: config.oidc.httpTimeoutMs,
    allowHttpIssuers: config.oidc.allowHttpIssuers,
  });
  for (const provider of providers) {
    if (!provider.available) app.log.error({ provider: provider.id, problem: provider.problem }, 'platform provider unavailable: discovery failed at boot');
  }
  app.decorate('platformProviders', providers);
  app.decorate('oidcClients', clients);

  await app.register(clinicOidcRoutes, { config, clients, box });
  if (providers.length > 0) {
    await app.register(platformTenantRoutes, { config, providers, tokens, handoffs });
    await app.register(platformAuthHostRoutes, { runtime, providers, tokens, handoffs });
  }
}
