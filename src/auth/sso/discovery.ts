// OpenID Provider discovery with openid-client, the one way both kinds of provider are found: a
// clinic's own (clinic/clients.ts, per request) and the platform's (platform/providers.ts, at boot
// and again while one is down). The Configuration it returns also carries the client's credentials,
// the deadline for every later request to the provider, and whether plain http is allowed.
import * as oidc from 'openid-client';

export interface OidcClientSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
}

export interface DiscoveryOptions {
  /** Deadline for discovery and for every later request through the configuration. */
  timeoutMs: number;
  /** http:// issuers (development and tests only; config.ts refuses it in production). */
  allowHttpIssuers: boolean;
}

export async function discoverOidcClient(settings: OidcClientSettings, options: DiscoveryOptions): Promise<oidc.Configuration> {
  const issuer = new URL(settings.issuer);
  const insecure = issuer.protocol === 'http:';
  if (insecure && !options.allowHttpIssuers) {
    throw Object.assign(new Error('http:// issuers are not allowed here'), { code: 'OAUTH_HTTP_REQUEST_FORBIDDEN' });
  }
  // client_secret_basic: the default method in OpenID Connect (openid-client would send _post).
  return oidc.discovery(issuer, settings.clientId, undefined, oidc.ClientSecretBasic(settings.clientSecret), {
    execute: insecure ? [oidc.allowInsecureRequests] : [],
    timeout: Math.max(1, Math.ceil(options.timeoutMs / 1000)),
  });
}
