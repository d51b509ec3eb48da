// Every state-changing request is checked twice (security.md): the browser's Sec-Fetch-Site must
// not say cross-site or same-site (sibling clinics are same-site), and the request must carry the
// CSRF token of its session (@fastify/csrf-protection, secret kept in the session, token in a hidden
// `_csrf` form field or an `x-csrf-token` header). Pages put the token in their forms with
// `reply.generateCsrf()`. A route with its own protection (e.g. a single-use state) may opt out with
// `config: { csrf: false }`.
import fp from 'fastify-plugin';
import csrfProtection from '@fastify/csrf-protection';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../infra/errors.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: no CSRF or Sec-Fetch-Site check on this route (it must protect itself). */
    csrf?: boolean;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function csrfTokenOf(request: FastifyRequest): string | undefined {
  const body = request.body;
  if (typeof body === 'object' && body !== null && '_csrf' in body && typeof body._csrf === 'string') return body._csrf;
  const header = request.headers['x-csrf-token'];
  return typeof header === 'string' ? header : undefined;
}

async function csrf(app: FastifyInstance): Promise<void> {
  await app.register(csrfProtection, { sessionPlugin: '@fastify/session', getToken: csrfTokenOf });

  app.addHook('preHandler', (request, reply, done) => {
    if (SAFE_METHODS.has(request.method) || request.routeOptions.config.csrf === false) return done();
    const site = request.headers['sec-fetch-site'];
    if (site === 'cross-site' || site === 'same-site') {
      return done(new AppError(403, 'cross_site_request', 'This request came from another site and was refused.'));
    }
    if (!request.tenant || !request.session) {
      return done(new AppError(403, 'csrf_unavailable', 'This request cannot be accepted at this address.'));
    }
    // The common honest failures get a message a person can act on; a wrong token is refused by the plugin.
    if (!request.session._csrf) {
      return done(new AppError(403, 'csrf_expired', 'This form has expired. Go back, reload the page and try again.'));
    }
    if (!csrfTokenOf(request)) {
      return done(new AppError(403, 'csrf_missing', 'This form is missing its security token. Reload the page and try again.'));
    }
    app.csrfProtection(request, reply, done);
  });
}

export const csrfPlugin = fp(csrf, { name: 'sidechart-csrf', fastify: '5.x', dependencies: ['sidechart-sessions'] });
