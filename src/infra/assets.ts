// The one stylesheet, served from memory so pages need no inline styles (strict CSP).
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const css = readFileSync(new URL('./assets/sidechart.css', import.meta.url), 'utf8');

export async function assetRoutes(app: FastifyInstance): Promise<void> {
  app.get('/assets/sidechart.css', { config: { anyHost: true } }, async (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(css),
  );
}
