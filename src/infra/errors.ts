// One error story. Every error we mean to show is an AppError with an HTTP status and a stable
// `code`, created from a catalogue entry made with `defineError` (the way Fastify core's
// lib/errors.js does with createError): each domain keeps its catalogue in its own `errors.ts`, so a
// code and its wording exist in exactly one place. The one error handler (infra/http.ts) shows 4xx
// messages as written and masks anything else; the CLI prints the message (usage errors exit 2).

export interface AppErrorOptions {
  /** Extra headers the response should carry (e.g. Retry-After on 503). */
  headers?: Record<string, string>;
  /** Page title, when the status code's generic title would not say what happened. */
  title?: string;
  cause?: unknown;
}

export class AppError extends Error {
  readonly statusCode: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  readonly title: string | undefined;

  constructor(statusCode: number, code: string, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.statusCode = statusCode;
    this.code = code;
    this.headers = options.headers ?? {};
    this.title = options.title;
  }
}

/** A catalogue entry: call it to create the error; `code` and `statusCode` for tests and callers. */
export type ErrorFactory<A extends unknown[]> = ((...args: A) => AppError) & { readonly code: string; readonly statusCode: number };

/**
 * Defines a coded error once. The message is fixed or built from arguments; headers and title are
 * fixed per code. `make` lets a domain create a subclass (single sign-on does).
 */
export function defineError<A extends unknown[] = []>(
  code: string,
  statusCode: number,
  message: string | ((...args: A) => string),
  options: Omit<AppErrorOptions, 'cause'> & { make?: (statusCode: number, code: string, message: string, options: AppErrorOptions) => AppError } = {},
): ErrorFactory<A> {
  const { make, ...fixed } = options;
  const create = (...args: A): AppError => {
    const text = typeof message === 'string' ? message : message(...args);
    return make ? make(statusCode, code, text, fixed) : new AppError(statusCode, code, text, fixed);
  };
  return Object.assign(create, { code, statusCode });
}

/** True for errors that carry a status and code we chose (not thrown by a library). */
export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

/** Errors of no particular domain. */
export const httpErrors = {
  notFound: defineError('not_found', 404, 'There is no page at this address.'),
  /** Schema validation of a route's params, query or body failed (Fastify + Ajv). */
  invalidRequest: defineError('invalid_request', 400, (detail: string) => `The request is not valid: ${detail}`),
  internal: defineError('internal_error', 500, 'Something went wrong on our side. It has been logged; please try again.'),
  /** The database dropped or refused the connection (a restart, a failover): try again shortly. */
  databaseUnavailable: defineError('database_unavailable', 503, 'Sidechart cannot reach its database at the moment. Try again in a few seconds.', {
    headers: { 'retry-after': '5' },
  }),
  /** CLI: a command was called the wrong way (exit code 2). */
  usage: defineError('usage', 400, (message: string) => message),
};

/** PostgreSQL's unique_violation, for "already exists" answers without a race. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23505';
}

function field(error: unknown, name: string): unknown {
  return typeof error === 'object' && error !== null ? (error as Record<string, unknown>)[name] : undefined;
}

/** The error and its causes, outermost first (bounded: causes can be cyclic). */
export function errorChain(error: unknown): unknown[] {
  const out: unknown[] = [];
  let current = error;
  while (current !== undefined && current !== null && out.length < 6) {
    out.push(current);
    current = field(current, 'cause') ?? field(current, 'innerError') ?? (field(current, 'isBoom') === true ? field(current, 'data') : undefined);
  }
  return out;
}

/**
 * An error chain as short lines for logs: names, codes and messages only. Library errors also
 * carry response objects and bodies (tokens, keys), which do not belong in logs.
 */
export function describeErrorChain(error: unknown): string[] {
  return errorChain(error).map((e) => {
    const name = field(e, 'name');
    const code = field(e, 'code');
    const message = field(e, 'message');
    return `${typeof name === 'string' ? name : typeof e}${typeof code === 'string' ? ` [${code}]` : ''}: ${typeof message === 'string' ? message.slice(0, 200) : String(e).slice(0, 200)}`;
  });
}
