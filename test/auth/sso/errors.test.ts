// What users are told when an identity provider interaction fails, table-driven over the errors
// openid-client, oauth4webapi and jose actually raise.
import t from 'tap';
import * as oidc from 'openid-client';
import { errors as joseErrors } from 'jose';
import { classifyProviderError, ssoErrors } from '../../../src/auth/sso/errors.ts';

const coded = (message: string, code: string, cause?: unknown) => Object.assign(new Error(message, { cause }), { code });
const fetchFailed = (code: string) => new TypeError('fetch failed', { cause: coded('connect failed', code) });

const cases: [string, unknown, 'discovery' | 'callback', string | null, number?][] = [
  ['connection refused (fetch)', fetchFailed('ECONNREFUSED'), 'discovery', 'idp_unavailable', 503],
  ['DNS failure (fetch)', fetchFailed('ENOTFOUND'), 'callback', 'idp_unavailable', 503],
  ['openid-client timeout', new oidc.ClientError('operation timed out', { cause: new DOMException('x', 'TimeoutError') }), 'callback', 'idp_unavailable'],
  ['jose JWKS timeout', new joseErrors.JWKSTimeout(), 'callback', 'idp_unavailable'],
  ['discovery answered 404', coded('unexpected HTTP response status code', 'OAUTH_RESPONSE_IS_NOT_CONFORM'), 'discovery', 'idp_misconfigured', 502],
  ['discovery issuer differs', coded('unexpected JSON attribute value encountered', 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED'), 'discovery', 'idp_misconfigured'],
  ['http issuer refused', coded('only requests to HTTPS are allowed', 'OAUTH_HTTP_REQUEST_FORBIDDEN'), 'callback', 'idp_misconfigured'],
  ['token endpoint 500 (not JSON)', coded('unexpected HTTP response status code', 'OAUTH_RESPONSE_IS_NOT_CONFORM'), 'callback', 'idp_error', 502],
  ['token endpoint invalid_grant', Object.assign(new Error('server responded with an error'), { code: 'OAUTH_RESPONSE_BODY_ERROR', error: 'invalid_grant', status: 400 }), 'callback', 'sso_code_rejected', 400],
  ['token endpoint invalid_client', Object.assign(new Error('x'), { code: 'OAUTH_RESPONSE_BODY_ERROR', error: 'invalid_client', status: 401 }), 'callback', 'idp_misconfigured'],
  ['token endpoint 503 with an OAuth body', Object.assign(new Error('x'), { code: 'OAUTH_RESPONSE_BODY_ERROR', error: 'temporarily_unavailable', status: 503 }), 'callback', 'idp_error'],
  ['access_denied at the callback', Object.assign(new Error('authorization response from the server is an error'), { code: 'OAUTH_AUTHORIZATION_RESPONSE_ERROR', error: 'access_denied' }), 'callback', 'sso_denied', 403],
  ['nonce mismatch', new oidc.ClientError('unexpected JWT claim value encountered', { cause: coded('unexpected ID Token "nonce" claim value', 'OAUTH_JWT_CLAIM_COMPARISON_FAILED') }), 'callback', 'sso_token_invalid', 400],
  ['state mismatch (openid-client)', coded('unexpected "state" response parameter value', 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED'), 'callback', 'sso_token_invalid'],
  ['ID token expired (jose)', new joseErrors.JWTExpired('"exp" claim timestamp check failed', { exp: 0 }), 'callback', 'sso_token_invalid'],
  ['ID token signature (jose)', new joseErrors.JWSSignatureVerificationFailed(), 'callback', 'sso_token_invalid'],
  ['ID token audience (jose)', new joseErrors.JWTClaimValidationFailed('unexpected "aud" claim value', {}, 'aud', 'check_failed'), 'callback', 'sso_token_invalid'],
  ['our own bug is not the provider\'s', new RangeError('oops'), 'callback', null],
  ['a TypeError that is not a fetch failure', new TypeError('x is not a function'), 'discovery', null],
];

t.test('classifyProviderError', async (t) => {
  for (const [name, error, phase, code, status] of cases) {
    const result = classifyProviderError(error, 'AcmeID', phase);
    t.equal(result?.code ?? null, code, name);
    if (status !== undefined) t.equal(result?.statusCode, status, `${name}: status`);
  }
  const already = ssoErrors.notAdmitted('Clinic', 'a@b.example');
  t.equal(classifyProviderError(already, 'x', 'callback'), already, 'SSO errors pass through');
});

t.test('messages name the provider and never the internals', async (t) => {
  const unavailable = classifyProviderError(fetchFailed('ECONNREFUSED'), 'AcmeID', 'discovery')!;
  t.match(unavailable.message, /AcmeID is not answering/);
  t.equal(unavailable.headers['retry-after'], '30');
  t.notMatch(unavailable.message, /ECONNREFUSED|fetch/);
  t.match(ssoErrors.notAdmitted('Clinic A', null).message, /This account is not allowed to sign in to Clinic A/);
});
