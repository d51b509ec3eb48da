// PLATFORM_OIDC_PROVIDERS and friends are validated at boot with one line naming the variable, and
// a provider's discovery document is checked against the issuer we expect.
import t from 'tap';
import { loadConfig } from '../../../../src/config.ts';
import { parseProviderMetadata } from '../../../../src/auth/sso/platform/providers.ts';

const provider = { id: 'google', name: 'Google', issuer: 'https://accounts.google.com', clientId: 'cid', clientSecret: 'very-secret' };
const env = (providers: unknown, extra: Record<string, string> = {}) => ({ PLATFORM_OIDC_PROVIDERS: typeof providers === 'string' ? providers : JSON.stringify(providers), ...extra });

t.test('valid providers and defaults', async (t) => {
  const config = loadConfig(env([provider, { ...provider, id: 'ms', name: 'Microsoft', issuer: 'https://login.microsoftonline.com/tid/v2.0' }]));
  t.same(config.platformProviders.map((p) => p.id), ['google', 'ms']);
  t.same(loadConfig({}).platformProviders, []);
  t.equal(loadConfig({}).oidc.allowHttpIssuers, true, 'http issuers in development');
  t.equal(loadConfig({}).oidc.discoveryTtlMs, 3_600_000);
  t.equal(loadConfig({}).oidc.httpTimeoutMs, 10_000);
  t.equal(loadConfig(env([{ ...provider, issuer: 'http://127.0.0.1:4000' }])).platformProviders[0]?.issuer, 'http://127.0.0.1:4000');
});

t.test('invalid values name the variable and never echo the secret', async (t) => {
  const cases: [Record<string, string>, RegExp][] = [
    [env('not json'), /^PLATFORM_OIDC_PROVIDERS: is not valid JSON/],
    [env({ id: 'x' }), /^PLATFORM_OIDC_PROVIDERS: must be a JSON array/],
    [env([null]), /entry 1 is not an object/],
    [env([{ ...provider, clientSecret: '' }]), /entry 1 needs a non-empty "clientSecret"/],
    [env([{ ...provider, id: 'Google!' }]), /id must be lowercase letters/],
    [env([{ ...provider, id: 'complete' }]), /"complete" is reserved/],
    [env([provider, provider]), /provider "google" is listed twice/],
    [env([{ ...provider, issuer: 'accounts.google.com' }]), /provider "google": issuer is not a URL/],
    [env([{ ...provider, issuer: 'https://idp.example/?tenant=x' }]), /must not carry a query/],
    [env([{ ...provider, issuer: 'ftp://idp.example' }]), /must be an http\(s\) URL/],
    [env([{ ...provider, issuer: 'http://idp.example' }], { OIDC_ALLOW_HTTP_ISSUERS: 'false' }), /must be an https:\/\/ URL/],
    [{ OIDC_DISCOVERY_TTL_MS: 'soon' }, /^OIDC_DISCOVERY_TTL_MS: must be a whole number/],
    [{ OIDC_HTTP_TIMEOUT_MS: '5' }, /^OIDC_HTTP_TIMEOUT_MS: must be a whole number from 100/],
    [{ OIDC_ALLOW_HTTP_ISSUERS: 'maybe' }, /^OIDC_ALLOW_HTTP_ISSUERS: must be true or false/],
  ];
  for (const [input, message] of cases) {
    t.throws(() => loadConfig(input), message, JSON.stringify(input).slice(0, 80));
    try {
      loadConfig(input);
    } catch (error) {
      t.notMatch((error as Error).message, /very-secret/, 'secret not in the message');
      t.notMatch((error as Error).message, /\n/, 'one line');
    }
  }
  const production = {
    SIDECHART_ENV: 'production', DATABASE_URL: 'postgres://db/x', SESSION_SECRET: 'x'.repeat(40),
    SIDECHART_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`, CLINIKO_CONTACT_EMAIL: 'ops@sidechart.app', BASE_DOMAIN: 'sidechart.app',
  };
  t.equal(loadConfig(production).oidc.allowHttpIssuers, false);
  t.throws(() => loadConfig({ ...production, OIDC_ALLOW_HTTP_ISSUERS: 'true' }), /^OIDC_ALLOW_HTTP_ISSUERS: cannot be on in production/);
  t.throws(() => loadConfig({ ...production, ...env([{ ...provider, issuer: 'http://idp.example' }]) }), /must be an https:\/\/ URL/);
});

t.test('discovery documents are checked against the expected issuer', async (t) => {
  const issuer = 'https://idp.example';
  const doc = {
    issuer,
    authorization_endpoint: `${issuer}/auth`,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks`,
    authorization_response_iss_parameter_supported: true,
    id_token_signing_alg_values_supported: ['RS256', 'HS256', 'none'],
  };
  t.match(parseProviderMetadata(doc, issuer, false), { issuer, issParameterSupported: true, idTokenAlgorithms: ['RS256'] }, 'symmetric and none algorithms dropped');
  t.same(parseProviderMetadata({ ...doc, id_token_signing_alg_values_supported: undefined }, issuer, false).idTokenAlgorithms, ['RS256']);
  t.throws(() => parseProviderMetadata({ ...doc, issuer: 'https://evil.example' }, issuer, false), /names issuer/);
  t.throws(() => parseProviderMetadata({ ...doc, issuer: `${issuer}/` }, issuer, false), /names issuer/, 'exact match');
  t.throws(() => parseProviderMetadata({ ...doc, token_endpoint: 'http://idp.example/token' }, issuer, false), /token_endpoint must be an https/);
  t.throws(() => parseProviderMetadata({ ...doc, jwks_uri: undefined }, issuer, false), /no jwks_uri/);
  t.throws(() => parseProviderMetadata('nope', issuer, false), /not a JSON object/);
});
