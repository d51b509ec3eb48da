// The error page of single sign-on (issue 3 point 7): the problem in words a clinic's staff can act
// on, a way back to the sign-in page, a reference for support on 5xx, never a stack. JSON for
// clients that ask for it (tests read the stable `error` code).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isAppError } from '../../infra/errors.ts';
import { sendPage, wantsJson } from '../../infra/html.ts';
import { sendProblem, toProblem } from '../../infra/http.ts';
import { describeProviderError } from './errors.ts';

const TITLES: Record<number, string> = {
  400: 'Sign-in did not finish',
  403: 'Sign-in refused',
  404: 'Not available',
  502: 'Sign-in service problem',
  503: 'Sign-in service unavailable',
};

export function renderSsoError(request: FastifyRequest, reply: FastifyReply, error: unknown, loginUrl: string | null): FastifyReply {
  if (!isAppError(error)) {
    // Validation errors (4xx) and bugs (masked 500) take the app's usual path.
    const problem = toProblem(error);
    if (problem.statusCode >= 500) request.log.error({ err: error }, 'request failed');
    return sendProblem(request, reply, problem);
  }
  if (error.statusCode >= 500) {
    request.log.warn({ code: error.code, statusCode: error.statusCode, cause: describeProviderError(error.cause) }, 'single sign-on failed at the identity provider');
  }
  else request.log.info({ code: error.code, statusCode: error.statusCode, cause: error.cause === undefined ? undefined : describeProviderError(error.cause) }, 'single sign-on refused');
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  reply.header('cache-control', 'no-store');
  if (wantsJson(request)) {
    return reply.code(error.statusCode).send({ error: error.code, message: error.message, requestId: request.id });
  }
  return sendPage(
    reply,
    'auth/views/sso-error',
    {
      title: TITLES[error.statusCode] ?? (error.statusCode >= 500 ? 'Sign-in service problem' : 'Sign-in did not finish'),
      message: error.message,
      loginUrl,
      requestId: error.statusCode >= 500 ? request.id : null,
      clinicName: request.tenant?.displayName ?? null,
    },
    error.statusCode,
  );
}
