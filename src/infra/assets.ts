// The one stylesheet and the one script (copy buttons), served from memory so pages need no inline
// styles or scripts (strict CSP: script-src 'self').
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const css = readFileSync(new URL('./assets/sidechart.css', import.meta.url), 'utf8');
const copyJs = readFileSync(new URL('./assets/copy.js', import.meta.url), 'utf8');

export async function assetRoutes(app: FastifyInstance): Promise<void> {
  app.get('/assets/sidechart.css', { config: { anyHost: true } }, async (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(css),
  );
  app.get('/assets/copy.js', { config: { anyHost: true } }, async (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=3600').send(copyJs),
  );
}
