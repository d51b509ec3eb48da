// Every state-changing request is checked twice (security.md): the browser's Sec-Fetch-Site must
// not say cross-site or same-site (sibling clinics are same-site), and the request must carry the
// CSRF token of its session (@fastify/csrf-protection, secret kept in the session, token in a hidden
// `_csrf` form field or an `x-csrf-token` header). Pages put the token in their forms with
// `reply.generateCsrf()`. A route with its own protection (e.g. a single-use state) may opt out with
// `config: { csrf: false }`.
import fp from 'fastify-plugin';
import csrfProtection from '@fastify/csrf-protection';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authErrors } from './errors.ts';

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
      return done(authErrors.crossSiteRequest());
    }
    if (!request.tenant || !request.session) {
      return done(authErrors.csrfUnavailable());
    }
    // The common honest failures get a message a person can act on; a wrong token is refused by the plugin.
    if (!request.session._csrf) {
      return done(authErrors.csrfExpired());
    }
    if (!csrfTokenOf(request)) {
      return done(authErrors.csrfMissing());
    }
    app.csrfProtection(request, reply, done);
  });
}

export const csrfPlugin = fp(csrf, { name: 'sidechart-csrf', fastify: '5.x', dependencies: ['sidechart-sessions'] });
