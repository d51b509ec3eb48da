// One error story: an AppError carries the HTTP status and a stable code. 4xx messages are shown to
// the user as written; anything 5xx is logged and masked by the error handler (infra/http.ts).

export class AppError extends Error {
  readonly statusCode: number;
  readonly code: string;
  /** Extra headers the response should carry (e.g. Retry-After on 503). */
  readonly headers: Record<string, string>;

  constructor(statusCode: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'AppError';
    this.statusCode = statusCode;
    this.code = code;
    this.headers = headers;
  }
}

/** True for errors that carry a status and code we chose (not thrown by a library). */
export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

/** PostgreSQL's unique_violation, for "already exists" answers without a race. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23505';
}
