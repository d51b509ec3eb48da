// What a user sees when single sign-on cannot finish (issue 3 point 7): one AppError per outcome,
// with a stable code (tests and logs), a status that says whose fault it is (4xx: this sign-in was
// refused; 502/503: the identity provider is down or misconfigured), and a message written for clinic
// staff. Library errors from openid-client / oauth4webapi / jose are mapped here, never shown as
// they are.
import { AppError, defineError, errorChain, type AppErrorOptions } from '../../infra/errors.ts';

export type SsoFailure =
  | 'idp_unavailable'
  | 'idp_error'
  | 'idp_misconfigured'
  | 'sso_not_enabled'
  | 'sso_attempt_missing'
  | 'sso_state_mismatch'
  | 'sso_issuer_mismatch'
  | 'sso_token_invalid'
  | 'sso_code_rejected'
  | 'sso_denied'
  | 'sso_handoff_invalid'
  | 'not_admitted'
  | 'account_disabled';

/** Page titles that say what happened to the sign-in, by status. */
const TITLES: Record<number, string> = {
  400: 'Sign-in did not finish',
  403: 'Sign-in refused',
  404: 'Not available',
  502: 'Sign-in service problem',
  503: 'Sign-in service unavailable',
};

export class SsoError extends AppError {
  readonly failure: SsoFailure;

  constructor(statusCode: number, failure: SsoFailure, message: string, options: AppErrorOptions = {}) {
    super(statusCode, failure, message, { title: TITLES[statusCode], ...options });
    this.name = 'SsoError';
    this.failure = failure;
  }
}

export function isSsoError(error: unknown): error is SsoError {
  return error instanceof SsoError;
}

function defineSsoError<A extends unknown[] = []>(failure: SsoFailure, statusCode: number, message: string | ((...args: A) => string), headers?: Record<string, string>) {
  return defineError<A>(failure, statusCode, message, {
    ...(headers ? { headers } : {}),
    make: (status, code, text, options) => new SsoError(status, code as SsoFailure, text, options),
  }) as ((...args: A) => SsoError) & { code: string; statusCode: number };
}

const START_AGAIN = 'Go back to the sign-in page and start again.';

/** What the error page of a sign-in offers: back to the clinic's sign-in page (request.backLink). */
export function signInPageLink(href: string): { href: string; label: string } {
  return { href, label: 'Back to the sign-in page' };
}

export const ssoErrors = {
  unavailable: defineSsoError('idp_unavailable', 503, (provider: string) => `${provider} is not answering right now, so you cannot sign in with it. Try again in a few minutes; if it keeps happening, tell your clinic administrator.`, { 'retry-after': '30' }),
  providerError: defineSsoError('idp_error', 502, (provider: string) => `${provider} answered with an error, so the sign-in could not finish. Try again in a few minutes; if it keeps happening, tell your clinic administrator.`),
  misconfigured: defineSsoError('idp_misconfigured', 502, (provider: string) => `Sign-in with ${provider} is not set up correctly for this clinic. Ask your clinic administrator to check the single sign-on settings.`),
  notEnabled: defineSsoError('sso_not_enabled', 404, (what: string) => `Sign-in with ${what} is not enabled for this clinic.`),
  /** A sign-up at a platform provider whose signed request (signup/provider-signup.ts) is missing or stale. */
  signupRequestInvalid: defineError('signup_request_invalid', 400, 'This sign-up has expired or was already used. Nothing was created: start again from the sign-up form.', {
    title: 'Sign-up expired',
  }),
  attemptMissing: defineSsoError('sso_attempt_missing', 400, `This sign-in has expired, was already used, or was started in another browser. ${START_AGAIN}`),
  stateMismatch: defineSsoError('sso_state_mismatch', 400, `This answer from the identity provider does not belong to the sign-in started in this browser. ${START_AGAIN}`),
  issuerMismatch: defineSsoError('sso_issuer_mismatch', 400, `This answer came from a different identity provider than the one you were sent to, so it was refused. ${START_AGAIN}`),
  tokenInvalid: defineSsoError('sso_token_invalid', 400, `The identity provider's answer could not be verified, so it was refused. ${START_AGAIN}`),
  codeRejected: defineSsoError('sso_code_rejected', 400, `The identity provider no longer accepts this sign-in (it was already used or took too long). ${START_AGAIN}`),
  denied: defineSsoError('sso_denied', 403, `The identity provider did not sign you in. ${START_AGAIN}`),
  handoffInvalid: defineSsoError('sso_handoff_invalid', 400, `This sign-in link is not valid here: it has expired, was already used, or belongs to another browser or clinic. ${START_AGAIN}`),
  notAdmitted: defineSsoError('not_admitted', 403, (clinic: string, email: string | null) => `${email === null ? 'This account' : `The account ${email}`} is not allowed to sign in to ${clinic}. Ask your clinic administrator to invite you, then try again.`),
  disabled: defineSsoError('account_disabled', 403, (clinic: string) => `Your Sidechart account at ${clinic} is disabled. Ask your clinic administrator.`),
};

const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED']);
/** Our checks on what the provider sent failed: the answer is refused, the provider is not "down". */
const VERIFICATION_CODES = new Set([
  'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
  'OAUTH_JWT_TIMESTAMP_CHECK_FAILED',
  'OAUTH_KEY_SELECTION_FAILED',
  'OAUTH_INVALID_RESPONSE',
  'ERR_JWT_CLAIM_VALIDATION_FAILED',
  'ERR_JWT_EXPIRED',
  'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  'ERR_JWS_INVALID',
  'ERR_JWT_INVALID',
  'ERR_JOSE_ALG_NOT_ALLOWED',
  'ERR_JWKS_NO_MATCHING_KEY',
  'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
]);
const PROVIDER_BROKEN_CODES = new Set(['OAUTH_RESPONSE_IS_NOT_CONFORM', 'OAUTH_RESPONSE_IS_NOT_JSON', 'OAUTH_PARSE_ERROR', 'ERR_JWKS_INVALID']);
const MISCONFIGURED_CODES = new Set(['OAUTH_HTTP_REQUEST_FORBIDDEN', 'OAUTH_REQUEST_PROTOCOL_FORBIDDEN', 'OAUTH_INVALID_SERVER_METADATA', 'OAUTH_MISSING_SERVER_METADATA']);

function field(error: unknown, name: string): unknown {
  return typeof error === 'object' && error !== null ? (error as Record<string, unknown>)[name] : undefined;
}

/**
 * Maps whatever a provider interaction threw (discovery, token request, JWKS, ID token checks) to
 * what the user should be told. `phase` says what we were doing: in discovery even a malformed
 * answer means the provider is misconfigured for us; at the callback it means the answer is refused.
 * Null when the error is not about the provider at all.
 */
export function classifyProviderError(error: unknown, provider: string, phase: 'discovery' | 'callback'): SsoError | null {
  if (isSsoError(error)) return error;
  const result = classify(error, provider, phase);
  // Kept for the log line (the error handler logs the chain), never for the page.
  if (result !== null) result.cause = error;
  return result;
}

function classify(error: unknown, provider: string, phase: 'discovery' | 'callback'): SsoError | null {
  const errors = errorChain(error);
  const codes = errors.map((e) => field(e, 'code')).filter((c): c is string => typeof c === 'string');
  const names = errors.map((e) => field(e, 'name')).filter((n): n is string => typeof n === 'string');

  const fetchFailed = errors.some((e) => e instanceof TypeError && e.message === 'fetch failed');
  if (fetchFailed || codes.some((c) => UNREACHABLE.has(c)) || codes.includes('OAUTH_TIMEOUT') || codes.includes('ERR_JWKS_TIMEOUT') || codes.includes('OAUTH_ABORT') || names.includes('TimeoutError') || names.includes('AbortError')) {
    return ssoErrors.unavailable(provider);
  }
  // The provider refused the authorization (error=access_denied ... at the callback).
  if (codes.includes('OAUTH_AUTHORIZATION_RESPONSE_ERROR')) return ssoErrors.denied();
  // An OAuth error body from the token endpoint.
  if (codes.includes('OAUTH_RESPONSE_BODY_ERROR')) {
    const status = field(error, 'status');
    const oauthError = field(error, 'error');
    if (typeof status === 'number' && status >= 500) return ssoErrors.providerError(provider);
    if (oauthError === 'invalid_client' || oauthError === 'unauthorized_client') return ssoErrors.misconfigured(provider);
    return ssoErrors.codeRejected();
  }
  if (codes.some((c) => MISCONFIGURED_CODES.has(c))) return ssoErrors.misconfigured(provider);
  if (phase === 'discovery') {
    // Anything else while discovering (404, not JSON, issuer in the document differs): misconfigured.
    if (codes.some((c) => c.startsWith('OAUTH_') || c.startsWith('ERR_')) || names.includes('ClientError')) return ssoErrors.misconfigured(provider);
  }
  if (codes.some((c) => PROVIDER_BROKEN_CODES.has(c))) return ssoErrors.providerError(provider);
  if (codes.some((c) => VERIFICATION_CODES.has(c)) || codes.includes('OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED')) return ssoErrors.tokenInvalid();
  if (names.includes('ClientError') || codes.some((c) => c.startsWith('OAUTH_'))) return ssoErrors.providerError(provider);
  // Unknown: a bug on our side, not the provider's; the caller rethrows it (masked 500, logged).
  return null;
}
