// The one error handler. Routes and hooks throw; nothing else formats problems. AppErrors and
// client errors (4xx) are shown as written, as a short page or JSON (content negotiation on
// Accept); everything else is logged with the request id and answered with a masked 500.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, describeErrorChain, httpErrors, isAppError } from './errors.ts';
import { sendPage, wantsJson } from './html.ts';
import { isDatabaseUnavailable } from './db.ts';

const TITLES: Record<number, string> = {
  400: 'Bad request',
  401: 'Sign-in needed',
  403: 'Not allowed',
  404: 'Not found',
  405: 'Method not allowed',
  409: 'Conflict',
  413: 'Too large',
  415: 'Unsupported content',
  422: 'Check the form',
  429: 'Too many requests',
  500: 'Something went wrong',
  502: 'Upstream problem',
  503: 'Temporarily unavailable',
  504: 'Timed out',
};

/**
 * Reads a library error as one of ours, or returns null: how a domain names a failure that infra
 * cannot know (tenancy/read-only.ts: a write refused by a read-only schema), without infra
 * importing the domain.
 */
export type ErrorReading = (error: unknown) => AppError | null;

declare module 'fastify' {
  interface FastifyRequest {
    /** Where an error page of this request offers to go back to (e.g. the clinic's sign-in page). */
    backLink: { href: string; label: string } | null;
  }
  interface FastifyInstance {
    /** Adds a reading to the one error handler, tried before its own (registered once, by a plugin). */
    readErrorsWith(reading: ErrorReading): void;
  }
}

/** Anything thrown, as the error we answer with. Library 4xx pass through; the rest is masked. */
export function toAppError(error: unknown, readings: readonly ErrorReading[] = []): AppError {
  if (isAppError(error)) return error;
  for (const read of readings) {
    const ours = read(error);
    if (ours !== null) return Object.assign(ours, { cause: error });
  }
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.validation) return httpErrors.invalidRequest(fastifyError.message ?? 'bad input');
  const status = typeof fastifyError.statusCode === 'number' ? fastifyError.statusCode : 500;
  if (status >= 400 && status < 500) {
    // Fastify's own client errors (body too large, bad content type...): their words are safe.
    return new AppError(status, fastifyError.code?.toLowerCase() ?? 'bad_request', fastifyError.message ?? 'Bad request');
  }
  if (isDatabaseUnavailable(error)) return Object.assign(httpErrors.databaseUnavailable(), { cause: error });
  return httpErrors.internal();
}

function send(request: FastifyRequest, reply: FastifyReply, problem: AppError): FastifyReply {
  for (const [name, value] of Object.entries(problem.headers)) reply.header(name, value);
  reply.header('cache-control', 'no-store');
  const title = problem.title ?? TITLES[problem.statusCode] ?? (problem.statusCode >= 500 ? TITLES[500]! : TITLES[400]!);
  if (wantsJson(request)) {
    return reply.code(problem.statusCode).send({ error: problem.code, message: problem.message, requestId: request.id });
  }
  try {
    return sendPage(
      reply,
      'infra/views/message',
      {
        title,
        message: problem.message,
        backLink: request.backLink,
        requestId: problem.statusCode >= 500 ? request.id : null,
        clinicName: request.tenant?.displayName ?? null,
      },
      problem.statusCode,
    );
  } catch (error) {
    // A broken template must not turn a clear answer into a stack trace.
    request.log.error({ err: error }, 'error page failed to render');
    return reply.code(problem.statusCode).type('text/plain; charset=utf-8').send(`${title}: ${problem.message}`);
  }
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.decorateRequest('backLink', null);
  const readings: ErrorReading[] = [];
  app.decorate('readErrorsWith', (reading: ErrorReading) => {
    readings.push(reading);
  });
  app.setErrorHandler((error, request, reply) => {
    const problem = toAppError(error, readings);
    if (problem.code === 'database_unavailable') request.log.warn({ err: error, code: problem.code }, 'request failed: database unavailable');
    else if (!isAppError(error) && problem.code === httpErrors.internal.code) request.log.error({ err: error }, 'request failed');
    else {
      // Our own errors: the code, and for mapped library failures their cause as short lines only.
      const details = { code: problem.code, statusCode: problem.statusCode, ...(problem.cause === undefined ? {} : { cause: describeErrorChain(problem.cause) }) };
      if (problem.statusCode >= 500) request.log.warn(details, 'request failed: upstream or dependency');
      else request.log.info(details, 'request refused');
    }
    return send(request, reply, problem);
  });
  app.setNotFoundHandler(() => {
    throw httpErrors.notFound();
  });
}
