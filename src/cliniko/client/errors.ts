// Every failure of the Cliniko client is a ClinikoError: its `kind` is what the patient page acts
// on, its message is written for a clinic admin. Errors from the network are classified and then
// dropped rather than wrapped, because they may carry the request, whose headers hold the API key.

export type ClinikoErrorKind =
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'rate_limited'
  | 'unavailable'
  | 'timeout'
  | 'bad_response'
  | 'invalid_key';

/** Default messages, written for a clinic admin. */
export const CLINIKO_ERROR_MESSAGES: Readonly<Record<ClinikoErrorKind, string>> = {
  unauthorized: 'Cliniko refused the API key: the key is wrong, revoked, or belongs to another shard.',
  forbidden: "Cliniko refused the request: the Cliniko user who created the API key is not allowed to see this (check that user's role in Cliniko).",
  not_found: 'Cliniko has no such record.',
  rate_limited: 'Cliniko is limiting requests made with this API key (too many in the last minute). Try again shortly.',
  unavailable: 'Cliniko is not answering properly right now (network or server error). Try again shortly.',
  timeout: 'Cliniko did not answer in time.',
  bad_response: 'Cliniko sent an answer Sidechart could not read.',
  invalid_key: 'This is not a valid Cliniko API key.',
};

export class ClinikoError extends Error {
  readonly kind: ClinikoErrorKind;
  /** The HTTP status Cliniko answered with, when it answered. */
  readonly upstreamStatus: number | undefined;
  /** For rate_limited: when Cliniko said the limit resets (epoch ms), when known. */
  readonly retryAt: number | undefined;

  constructor(kind: ClinikoErrorKind, message?: string, details: { upstreamStatus?: number; retryAt?: number } = {}) {
    super(message ?? CLINIKO_ERROR_MESSAGES[kind]);
    this.name = 'ClinikoError';
    this.kind = kind;
    this.upstreamStatus = details.upstreamStatus;
    this.retryAt = details.retryAt;
  }

  // Only what we chose to say: no cause, no request, no headers (they would carry the key).
  toJSON(): { name: string; kind: ClinikoErrorKind; message: string; upstreamStatus?: number; retryAt?: number } {
    return {
      name: this.name,
      kind: this.kind,
      message: this.message,
      ...(this.upstreamStatus !== undefined ? { upstreamStatus: this.upstreamStatus } : {}),
      ...(this.retryAt !== undefined ? { retryAt: this.retryAt } : {}),
    };
  }
}

export function isClinikoError(error: unknown): error is ClinikoError {
  return error instanceof ClinikoError;
}

/** The error for an answer that is neither a success, a 429 nor a 5xx. */
export function statusError(status: number): ClinikoError {
  if (status === 401) return new ClinikoError('unauthorized', undefined, { upstreamStatus: status });
  if (status === 403) return new ClinikoError('forbidden', undefined, { upstreamStatus: status });
  if (status === 404) return new ClinikoError('not_found', undefined, { upstreamStatus: status });
  return new ClinikoError('bad_response', `Cliniko rejected the request (HTTP ${status}).`, { upstreamStatus: status });
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** A thrown network error, as a ClinikoError; `callSignal` aborted means every caller gave up. */
export function classifyNetworkError(error: unknown, callSignal: AbortSignal): ClinikoError {
  if (callSignal.aborted) return cancelledError();
  const name = error instanceof Error ? error.name : '';
  const code = typeof error === 'object' && error !== null ? String((error as { code?: unknown }).code ?? '') : '';
  if (name === 'TimeoutError' || name === 'AbortError' || TIMEOUT_CODES.has(code)) return new ClinikoError('timeout');
  return new ClinikoError('unavailable');
}

/** The caller's own signal ended the wait (e.g. the browser went away). */
export function cancelledError(): ClinikoError {
  return new ClinikoError('timeout', 'The request to Cliniko was cancelled.');
}
