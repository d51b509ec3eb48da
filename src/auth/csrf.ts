// Every state-changing request is checked twice (security.md): the browser's Sec-Fetch-Site must
// not say cross-site or same-site (sibling clinics are same-site), and the request must carry a
// valid CSRF token (@fastify/csrf-protection, token in a hidden `_csrf` form field or an
// `x-csrf-token` header). Pages put the token in their forms with `csrfToken(request, reply)`.
// A route with its own protection (e.g. a single-use state) may opt out with `config: { csrf: false }`.
//
// The token's secret lives in a signed, host-only cookie (`__Host-sidechart-csrf` over HTTPS), not in
// the session: showing the sign-in form to a visitor stores nothing (issue 10: anonymous traffic
// writes no rows), and a signed-in user's first form does not rewrite the session row. What the
// session used to give - a token that dies with the session - comes from binding each token to who
// it was made for: the signed-in session's ID, or "nobody signed in, on this clinic". A token
// made before sign-in is refused after it (the session ID changed), one made for a session is
// refused once that session has ended, and a token is only good with the cookie of the browser
// it was made for.
import fp from 'fastify-plugin';
import csrfProtection from '@fastify/csrf-protection';
import { createHmac } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authErrors } from './errors.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The secret cookie is Secure: never issued on a request that did not arrive over HTTPS. */
    csrfCookieSecure: boolean;
    /** csrfToken() below, for the layout's sign-out form (infra/html.ts imports no domain). */
    csrfToken(request: FastifyRequest, reply: FastifyReply): string;
  }
  interface FastifyContextConfig {
    /** false: no CSRF or Sec-Fetch-Site check on this route (it must protect itself). */
    csrf?: boolean;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface CsrfOptions {
  /** The session secret: the tokens' HMAC key is derived from it. */
  secret: string;
  /** Served over HTTPS: the cookie is `__Host-` prefixed and Secure. */
  secure: boolean;
}

export function csrfCookieName(secure: boolean): string {
  return secure ? '__Host-sidechart-csrf' : 'sidechart-csrf';
}

export function csrfTokenOf(request: FastifyRequest): string | undefined {
  const body = request.body;
  if (typeof body === 'object' && body !== null && '_csrf' in body && typeof body._csrf === 'string') return body._csrf;
  const header = request.headers['x-csrf-token'];
  return typeof header === 'string' ? header : undefined;
}

/**
 * Who a token is for: the signed-in session, an anonymous visitor of this clinic, or a visitor of
 * the platform host of one base domain (sign-up: nobody is ever signed in there).
 */
function tokenOwner(request: FastifyRequest): string {
  if (request.user && request.session) return `session:${request.session.sessionId}`;
  if (!request.tenant && request.site?.kind === 'platform') return `anonymous:platform:${request.site.baseDomain}`;
  return `anonymous:${request.tenant?.id ?? ''}`;
}

const tokens = new WeakMap<FastifyRequest, string>();

/**
 * A CSRF token for a form on this page (sets the secret cookie the first time). Over plain HTTP
 * where HTTPS is required (a request that bypassed the proxy) no cookie is issued and the token is
 * empty: the form is then refused as missing its token, as the session cookie is never issued.
 */
export function csrfToken(request: FastifyRequest, reply: FastifyReply): string {
  if (request.server.csrfCookieSecure && request.protocol !== 'https') return '';
  // One token a request: a second call before the browser has the cookie would make a second
  // secret, and the first form's token would not match the cookie the browser keeps.
  let token = tokens.get(request);
  if (token === undefined) {
    token = reply.generateCsrf({ userInfo: tokenOwner(request) });
    tokens.set(request, token);
  }
  return token;
}

async function csrf(app: FastifyInstance, options: CsrfOptions): Promise<void> {
  const cookieName = csrfCookieName(options.secure);
  app.decorate('csrfCookieSecure', options.secure);
  app.decorate('csrfToken', csrfToken);
  await app.register(csrfProtection, {
    sessionPlugin: '@fastify/cookie',
    cookieKey: cookieName,
    // Signed with @fastify/cookie's key (session plugin); host-only like the session cookie.
    cookieOpts: { path: '/', httpOnly: true, sameSite: 'lax', secure: options.secure, signed: true },
    getToken: csrfTokenOf,
    getUserInfo: tokenOwner,
    csrfOpts: { hmacKey: createHmac('sha256', options.secret).update('sidechart csrf tokens').digest() },
  });

  app.addHook('preHandler', (request, reply, done) => {
    if (SAFE_METHODS.has(request.method) || request.routeOptions.config.csrf === false) return done();
    const site = request.headers['sec-fetch-site'];
    if (site === 'cross-site' || site === 'same-site') {
      return done(authErrors.crossSiteRequest());
    }
    // Clinic hosts and the platform host's own forms (sign-up); reserved hosts have no forms.
    if (!request.tenant && request.site?.kind !== 'platform') {
      return done(authErrors.csrfUnavailable());
    }
    // The common honest failures get a message a person can act on; a wrong token is refused by the plugin.
    const cookie = request.cookies[cookieName];
    if (cookie === undefined || !reply.unsignCookie(cookie).valid) {
      return done(authErrors.csrfExpired());
    }
    if (!csrfTokenOf(request)) {
      return done(authErrors.csrfMissing());
    }
    app.csrfProtection(request, reply, done);
  });
}

export const csrfPlugin = fp(csrf, { name: 'sidechart-csrf', fastify: '5.x', dependencies: ['sidechart-sessions'] });
