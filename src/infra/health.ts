// Liveness and readiness, answered on any host (load balancers probe by IP).
import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Databases } from './db.ts';
import { ping } from './db.ts';
import { answerUnderPressure } from './load.ts';

export interface HealthOptions {
  databases: Databases;
  timeoutMs?: number;
}

const Live = Type.Object({ status: Type.Literal('ok') });
const Ready = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('unavailable')]),
  databases: Type.Array(Type.Object({ region: Type.String(), ok: Type.Boolean() })),
});

export async function healthRoutes(fastify: FastifyInstance, options: HealthOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  // Liveness answers even when overloaded (load.ts): a busy instance is not a dead one.
  app.get('/healthz', { config: { anyHost: true, ...answerUnderPressure }, schema: { response: { 200: Live } } }, async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return { status: 'ok' as const };
  });

  app.get('/readyz', { config: { anyHost: true }, schema: { response: { 200: Ready, 503: Ready } } }, async (_request, reply) => {
    const timeoutMs = options.timeoutMs ?? 2000;
    const checks = await Promise.all(
      [...options.databases.regions.values()].map(async (region) => ({ region: region.id, ok: await ping(region.pool, timeoutMs) })),
    );
    const ready = checks.every((c) => c.ok);
    reply.header('cache-control', 'no-store');
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', databases: checks });
  });
}
