// Logging for the whole app (pino through Fastify): the level, credentials redacted, and request
// URLs without their one-time secrets. Sign-in URLs carry authorization codes, state, hand-off
// tokens and attempt references in their query: request logs keep the path and every other
// parameter, but not those values (security.md: logs never contain tokens).
import type { FastifyServerOptions } from 'fastify';

const SECRET_PARAMS = new Set(['code', 'state', 'token', 'attempt', 'nonce', 'id_token', 'access_token', 'refresh_token', 'session_state']);

export function redactUrl(url: string | undefined): string | undefined {
  if (url === undefined) return url;
  const q = url.indexOf('?');
  if (q === -1) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  let changed = false;
  for (const key of new Set(params.keys())) {
    if (SECRET_PARAMS.has(key.toLowerCase())) {
      params.set(key, 'redacted');
      changed = true;
    }
  }
  return changed ? `${url.slice(0, q)}?${params.toString()}` : url;
}

interface LoggedRequest {
  method?: string;
  url?: string;
  headers?: Record<string, string | string[] | undefined>;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number } | null;
}

/** Fastify's default `req` log serializer, with the URL redacted. */
export function requestLogSerializer(req: LoggedRequest) {
  return {
    method: req.method,
    url: redactUrl(req.url),
    version: typeof req.headers?.['accept-version'] === 'string' ? req.headers['accept-version'] : undefined,
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket ? req.socket.remotePort : undefined,
  };
}

export function loggerOptions(level: string): FastifyServerOptions['logger'] {
  return {
    level,
    // Never log credentials: cookies carry session IDs, Authorization carries keys.
    redact: {
      paths: ['req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]', '*.password', '*.apiKey', '*.token'],
      censor: '[redacted]',
    },
    serializers: { req: requestLogSerializer },
  };
}
