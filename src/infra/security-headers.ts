// Security headers on every response: helmet computes them from our policy (CSP, frame-ancestors,
// referrer policy, HSTS over HTTPS...), once. Our policy has no per-request part (no nonces), so the
// header set is the same for every response, and applying it is one reply.headers() call.
// (@fastify/helmet, used before, called helmet(options) again for every request, parsing the
// whole CSP each time: an eighth of an anonymous click's CPU in `npm run bench`.)
import type { IncomingMessage, ServerResponse } from 'node:http';
import fp from 'fastify-plugin';
import helmet, { type HelmetOptions } from 'helmet';
import type { FastifyInstance } from 'fastify';

/** The headers helmet sets for this policy, computed by running its middleware once. */
export function securityHeaderSet(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
      return response;
    },
    removeHeader() {},
  };
  let failed: unknown = null;
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, (error?: unknown) => {
    if (error) failed = error;
  });
  if (failed) throw failed;
  return headers;
}

export interface SecurityHeaderOptions {
  helmet: HelmetOptions;
  /** Permissions-Policy (helmet does not set it). */
  permissionsPolicy: string;
}

async function securityHeaders(app: FastifyInstance, options: SecurityHeaderOptions): Promise<void> {
  const headers = { ...securityHeaderSet(options.helmet), 'permissions-policy': options.permissionsPolicy };
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    done();
  });
}

export const securityHeadersPlugin = fp(securityHeaders, { name: 'sidechart-security-headers', fastify: '5.x' });
