// The one error story for HTTP: AppErrors and client errors (4xx) are shown as written, as a short
// page or JSON; everything else is logged with the request id and answered with a masked 500.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isAppError } from './errors.ts';
import { sendPage, wantsJson } from './html.ts';

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

export interface Problem {
  statusCode: number;
  code: string;
  message: string;
  headers?: Record<string, string>;
}

/** Answers with a problem as an HTML page or JSON, following the Accept header. */
export function sendProblem(request: FastifyRequest, reply: FastifyReply, problem: Problem): FastifyReply {
  for (const [name, value] of Object.entries(problem.headers ?? {})) reply.header(name, value);
  reply.header('cache-control', 'no-store');
  const title = TITLES[problem.statusCode] ?? (problem.statusCode >= 500 ? TITLES[500]! : TITLES[400]!);
  if (wantsJson(request)) {
    return reply.code(problem.statusCode).send({ error: problem.code, message: problem.message, requestId: request.id });
  }
  try {
    return sendPage(
      reply,
      'infra/views/message',
      { title, message: problem.message, requestId: problem.statusCode >= 500 ? request.id : null, clinicName: request.tenant?.displayName ?? null },
      problem.statusCode,
    );
  } catch (error) {
    // A broken template must not turn a clear answer into a stack trace.
    request.log.error({ err: error }, 'error page failed to render');
    return reply.code(problem.statusCode).type('text/plain; charset=utf-8').send(`${title}: ${problem.message}`);
  }
}

export function toProblem(error: unknown): Problem {
  if (isAppError(error)) {
    return { statusCode: error.statusCode, code: error.code, message: error.message, headers: error.headers };
  }
  const fastifyError = error as Partial<FastifyError>;
  const status = typeof fastifyError.statusCode === 'number' ? fastifyError.statusCode : 500;
  if (fastifyError.validation) {
    return { statusCode: 400, code: 'invalid_request', message: `The request is not valid: ${fastifyError.message ?? 'bad input'}` };
  }
  if (status >= 400 && status < 500) {
    return { statusCode: status, code: fastifyError.code?.toLowerCase() ?? 'bad_request', message: fastifyError.message ?? 'Bad request' };
  }
  return { statusCode: status >= 500 && status < 600 ? status : 500, code: 'internal_error', message: 'Something went wrong on our side. It has been logged; please try again.' };
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const problem = toProblem(error);
    if (problem.statusCode >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ code: problem.code, statusCode: problem.statusCode }, 'request refused');
    return sendProblem(request, reply, problem);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(request, reply, { statusCode: 404, code: 'not_found', message: 'There is no page at this address.' }),
  );
}
