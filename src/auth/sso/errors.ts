// What a user sees when single sign-on cannot finish (issue 3 point 7): one AppError per outcome,
// with a stable code (tests and logs), a status that says whose fault it is (4xx: this sign-in was
// refused; 502/503: the identity provider is down or misconfigured), and a message written for clinic
// staff. Library errors from openid-client / oauth4webapi / @fastify/oauth2 are mapped here, never
// shown as they are.
import { AppError } from '../../infra/errors.ts';

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

export class SsoError extends AppError {
  readonly failure: SsoFailure;

  constructor(statusCode: number, failure: SsoFailure, message: string, headers: Record<string, string> = {}) {
    super(statusCode, failure, message, headers);
    this.name = 'SsoError';
    this.failure = failure;
  }
}

export function isSsoError(error: unknown): error is SsoError {
  return error instanceof SsoError;
}

const START_AGAIN = 'Go back to the sign-in page and start again.';

export const ssoErrors = {
  unavailable: (provider: string) =>
    new SsoError(503, 'idp_unavailable', `${provider} is not answering right now, so you cannot sign in with it. Try again in a few minutes; if it keeps happening, tell your clinic administrator.`, { 'retry-after': '30' }),
  providerError: (provider: string) =>
    new SsoError(502, 'idp_error', `${provider} answered with an error, so the sign-in could not finish. Try again in a few minutes; if it keeps happening, tell your clinic administrator.`),
  misconfigured: (provider: string) =>
    new SsoError(502, 'idp_misconfigured', `Sign-in with ${provider} is not set up correctly for this clinic. Ask your clinic administrator to check the single sign-on settings.`),
  notEnabled: (what: string) => new SsoError(404, 'sso_not_enabled', `Sign-in with ${what} is not enabled for this clinic.`),
  attemptMissing: () =>
    new SsoError(400, 'sso_attempt_missing', `This sign-in has expired, was already used, or was started in another browser. ${START_AGAIN}`),
  stateMismatch: () =>
    new SsoError(400, 'sso_state_mismatch', `This answer from the identity provider does not belong to the sign-in started in this browser. ${START_AGAIN}`),
  issuerMismatch: () =>
    new SsoError(400, 'sso_issuer_mismatch', `This answer came from a different identity provider than the one you were sent to, so it was refused. ${START_AGAIN}`),
  tokenInvalid: () =>
    new SsoError(400, 'sso_token_invalid', `The identity provider's answer could not be verified, so it was refused. ${START_AGAIN}`),
  codeRejected: () =>
    new SsoError(400, 'sso_code_rejected', `The identity provider no longer accepts this sign-in (it was already used or took too long). ${START_AGAIN}`),
  denied: () => new SsoError(403, 'sso_denied', `The identity provider did not sign you in. ${START_AGAIN}`),
  handoffInvalid: () =>
    new SsoError(400, 'sso_handoff_invalid', `This sign-in link is not valid here: it has expired, was already used, or belongs to another browser or clinic. ${START_AGAIN}`),
  notAdmitted: (clinic: string, email: string | null) =>
    new SsoError(403, 'not_admitted', `${email === null ? 'This account' : `The account ${email}`} is not allowed to sign in to ${clinic}. Ask your clinic administrator to invite you, then try again.`),
  disabled: (clinic: string) =>
    new SsoError(403, 'account_disabled', `Your Sidechart account at ${clinic} is disabled. Ask your clinic administrator.`),
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

/** The error and its causes, outermost first (bounded: causes can be cyclic). */
function chain(error: unknown): unknown[] {
  const out: unknown[] = [];
  let current = error;
  while (current !== undefined && current !== null && out.length < 6) {
    out.push(current);
    current = field(current, 'cause') ?? field(current, 'innerError') ?? (field(current, 'isBoom') === true ? field(current, 'data') : undefined);
  }
  return out;
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
  // Kept for the log line (sso-pages.ts), never for the page.
  if (result !== null) result.cause = error;
  return result;
}

/**
 * The error chain as short lines for logs: names, codes and messages only. Library errors also
 * carry response objects and bodies, which do not belong in logs.
 */
export function describeProviderError(error: unknown): string[] {
  return chain(error).map((e) => {
    const name = field(e, 'name');
    const code = field(e, 'code');
    const message = field(e, 'message');
    return `${typeof name === 'string' ? name : typeof e}${typeof code === 'string' ? ` [${code}]` : ''}: ${typeof message === 'string' ? message.slice(0, 200) : String(e).slice(0, 200)}`;
  });
}

function classify(error: unknown, provider: string, phase: 'discovery' | 'callback'): SsoError | null {
  const errors = chain(error);
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
  // simple-oauth2 (inside @fastify/oauth2) raises Boom errors from @hapi/wreck.
  if (field(error, 'isBoom') === true) {
    const status = field(field(error, 'output'), 'statusCode');
    const data = field(error, 'data');
    if (field(data, 'isResponseError') === true && typeof status === 'number') {
      const oauthError = field(field(data, 'payload'), 'error');
      if (status >= 500) return ssoErrors.providerError(provider);
      if (oauthError === 'invalid_client' || oauthError === 'unauthorized_client' || status === 401) return ssoErrors.misconfigured(provider);
      return ssoErrors.codeRejected();
    }
    // No response: connection refused / reset (502 "Client request error") or the deadline (504).
    if (status === 502 || status === 504 || status === 408) return ssoErrors.unavailable(provider);
    return ssoErrors.providerError(provider);
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
