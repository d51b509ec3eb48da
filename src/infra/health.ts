// Liveness and readiness, answered on any host (load balancers probe by IP).
import type { FastifyInstance } from 'fastify';
import type { Databases } from './db.ts';
import { ping } from './db.ts';

export interface HealthOptions {
  databases: Databases;
  timeoutMs?: number;
}

export async function healthRoutes(app: FastifyInstance, options: HealthOptions): Promise<void> {
  app.get('/healthz', { config: { anyHost: true } }, async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return { status: 'ok' };
  });

  app.get('/readyz', { config: { anyHost: true } }, async (_request, reply) => {
    const timeoutMs = options.timeoutMs ?? 2000;
    const checks = await Promise.all(
      [...options.databases.regions.values()].map(async (region) => ({ region: region.id, ok: await ping(region.pool, timeoutMs) })),
    );
    const ready = checks.every((c) => c.ok);
    reply.header('cache-control', 'no-store');
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', databases: checks });
  });
}
