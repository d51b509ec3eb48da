// preHandlers for pages that need a signed-in user. An anonymous GET is sent to the clinic's
// sign-in page, its path and query kept in a signed return-to cookie (return-to-cookie.ts; no
// session is stored), so that signIn() can bring the user back to exactly that page; anything
// else anonymous is a 401.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { httpErrors } from '../infra/errors.ts';
import { authErrors } from './errors.ts';
import { rememberReturnTo } from './return-to-cookie.ts';

export const LOGIN_PATH = '/login';

export async function requireUser(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  reply.header('cache-control', 'no-store');
  if (request.user) return undefined;
  if (!request.tenant || !request.session) throw httpErrors.notFound();
  if (request.method === 'GET' || request.method === 'HEAD') {
    // HEAD has no side effects: it learns where it would go, and nothing is stored.
    if (request.method === 'GET') rememberReturnTo(request, reply);
    return reply.redirect(LOGIN_PATH, 303);
  }
  throw authErrors.signInRequired();
}

export async function requireAdmin(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  if (!request.user) return requireUser(request, reply);
  reply.header('cache-control', 'no-store');
  if (request.user.role !== 'admin') throw authErrors.adminOnly();
  return undefined;
}
