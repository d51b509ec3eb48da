// OpenID Provider discovery with openid-client, the one way both kinds of provider are found: a
// clinic's own (clinic/clients.ts, per request) and the platform's (platform/providers.ts, at boot
// and again while one is down). The Configuration it returns also carries the client's credentials,
// the deadline for every later request to the provider, and whether plain http is allowed.
import * as oidc from 'openid-client';
import { classifyProviderError } from './errors.ts';

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

export interface CodeExchange {
  /** The registered redirect URI, built from configuration (never from the request's Host). */
  redirectUri: string;
  /** The callback's request URL: only its query (code, state, iss...) is used. */
  requestUrl: string;
  /** What this browser's sign-in attempt kept: PKCE verifier, state and nonce. */
  codeVerifier: string;
  state: string;
  nonce: string;
  /** Names the provider in the error a person sees. */
  label: string;
}

/**
 * The callback's code exchanged for tokens (PKCE, state and nonce checked by openid-client) and the
 * ID token's claims, for both kinds of provider. Provider failures become the SSO errors a person
 * can act on (errors.ts); anything else is rethrown.
 */
export async function exchangeCode(configuration: oidc.Configuration, exchange: CodeExchange): Promise<oidc.IDToken | undefined> {
  const callbackUrl = new URL(exchange.redirectUri);
  callbackUrl.search = new URL(exchange.requestUrl, 'http://callback.invalid').search;
  try {
    const tokens = await oidc.authorizationCodeGrant(configuration, callbackUrl, {
      pkceCodeVerifier: exchange.codeVerifier,
      expectedState: exchange.state,
      expectedNonce: exchange.nonce,
      idTokenExpected: true,
    });
    return tokens.claims();
  } catch (error) {
    throw classifyProviderError(error, exchange.label, 'callback') ?? error;
  }
}
