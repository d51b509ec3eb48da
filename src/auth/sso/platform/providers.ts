// Platform providers (PLATFORM_OIDC_PROVIDERS) as the running app knows them: the configuration,
// plus what discovery at boot found (endpoints, the JWKS used to check ID tokens). A provider whose
// discovery fails at boot is kept, marked unavailable: its buttons answer with a clear 503 page
// instead of the whole app refusing to start because one identity provider was down.
import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import { Type } from 'typebox';
import type { PlatformProviderConfig } from '../../../config.ts';
import { checkIssuerUrl, PROVIDER_ID_PATTERN } from '../../../config.ts';
import { shapeOf } from '../../../infra/schemas.ts';

/** `:provider` in the platform sign-in routes of both hosts. */
export const ProviderParams = Type.Object({ provider: Type.String({ pattern: PROVIDER_ID_PATTERN }) });

/** The part of an OIDC discovery document (OIDC Discovery 1.0 section 3) Sidechart relies on. */
const DiscoveryDocument = Type.Object({
  issuer: Type.String(),
  authorization_endpoint: Type.String(),
  token_endpoint: Type.String(),
  jwks_uri: Type.String(),
  authorization_response_iss_parameter_supported: Type.Optional(Type.Unknown()),
  id_token_signing_alg_values_supported: Type.Optional(Type.Array(Type.Unknown())),
});
const discoveryDocument = shapeOf(DiscoveryDocument);

export interface ProviderMetadata {
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  jwksUri: string;
  /** RFC 9207: the provider puts `iss` in every authorization response. */
  issParameterSupported: boolean;
  idTokenAlgorithms: string[];
}

export type PlatformProvider =
  | { id: string; config: PlatformProviderConfig; available: true; metadata: ProviderMetadata; jwks: JWTVerifyGetKey }
  | { id: string; config: PlatformProviderConfig; available: false; problem: string };

/** Asymmetric algorithms only: an ID token "signed" with the client secret or `none` is refused. */
const ASYMMETRIC = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']);

function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
}

/** Validates a discovery document against the issuer we expect (OIDC Discovery 1.0 section 4.3). */
export function parseProviderMetadata(doc: unknown, expectedIssuer: string, allowHttp: boolean): ProviderMetadata {
  if (!discoveryDocument.check(doc)) {
    if (typeof doc !== 'object' || doc === null) throw new Error('discovery document is not a JSON object');
    const field = discoveryDocument.problemField(doc);
    throw new Error(field === null ? `discovery document ${discoveryDocument.problem(doc)}` : `discovery document has no ${field}`);
  }
  if (doc.issuer !== expectedIssuer) throw new Error(`discovery document names issuer ${JSON.stringify(doc.issuer)}, expected ${expectedIssuer}`);
  const endpoint = (name: 'authorization_endpoint' | 'token_endpoint' | 'jwks_uri'): string => {
    const value = doc[name];
    const problem = checkIssuerUrl(value.split('?')[0]!, allowHttp);
    if (problem !== null) throw new Error(`${name} ${problem}`);
    return value;
  };
  const algorithms = (doc.id_token_signing_alg_values_supported ?? []).filter((a): a is string => typeof a === 'string' && ASYMMETRIC.has(a));
  return {
    issuer: expectedIssuer,
    authorizationEndpoint: endpoint('authorization_endpoint'),
    tokenEndpoint: endpoint('token_endpoint'),
    jwksUri: endpoint('jwks_uri'),
    issParameterSupported: doc.authorization_response_iss_parameter_supported === true,
    idTokenAlgorithms: algorithms.length > 0 ? algorithms : ['RS256'],
  };
}

export async function discoverPlatformProvider(
  config: PlatformProviderConfig,
  options: { timeoutMs: number; allowHttpIssuers: boolean },
): Promise<PlatformProvider> {
  try {
    const response = await fetch(discoveryUrl(config.issuer), {
      headers: { accept: 'application/json' },
      redirect: 'error',
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    if (!response.ok) throw new Error(`discovery answered HTTP ${response.status}`);
    const metadata = parseProviderMetadata(await response.json(), config.issuer, options.allowHttpIssuers);
    const jwks = createRemoteJWKSet(new URL(metadata.jwksUri), { timeoutDuration: options.timeoutMs });
    return { id: config.id, config, available: true, metadata, jwks };
  } catch (error) {
    const problem = error instanceof Error ? (error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message) : String(error);
    return { id: config.id, config, available: false, problem };
  }
}

export function discoverPlatformProviders(
  configs: readonly PlatformProviderConfig[],
  options: { timeoutMs: number; allowHttpIssuers: boolean },
): Promise<PlatformProvider[]> {
  return Promise.all(configs.map((c) => discoverPlatformProvider(c, options)));
}
