// Liveness and readiness. The public listener answers /healthz and /readyz on any host (load
// balancers probe by IP) with a status only; ready means the control plane and the instance's own
// region answer (another region's outage is not this instance's): which regions exist and which one is down is no
// business of the internet. The detail (each region, whether it answers, since when it has not) is
// for operators, on the metrics listener: `regionStatusRoutes` there, and the
// sidechart_region_up gauge (metrics.ts).
import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Databases } from './db.ts';
import { ping } from './db.ts';
import { answerUnderPressure } from './load.ts';

export interface HealthOptions {
  databases: Databases;
  /**
   * The regions whose databases this instance's readiness depends on (REGION; every region when
   * it serves all). One region's outage takes only its own instances out of their load balancers.
   * The control plane always counts. Default: every region.
   */
  serves?: (regionId: string) => boolean;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 2_000;

export interface RegionCheck {
  region: string;
  ok: boolean;
  /** When this region was first seen failing, in the run of failed checks it is in now; null while it answers. */
  downSince: Date | null;
}

/**
 * Pings every region's pool and remembers, per region, since when it has been failing. The memory
 * is per set of pools (WeakMap), so the public probe, the operators' route and the metrics scrape
 * all see the same "down since" whoever checked first; it holds region ids and times only.
 */
const downSinceByPools = new WeakMap<Databases, Map<string, Date>>();

export async function checkRegions(databases: Databases, options: { timeoutMs?: number; now?: () => Date } = {}): Promise<RegionCheck[]> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const now = options.now ?? (() => new Date());
  let downSince = downSinceByPools.get(databases);
  if (downSince === undefined) {
    downSince = new Map();
    downSinceByPools.set(databases, downSince);
  }
  const since = downSince;
  return Promise.all(
    [...databases.regions.values()].map(async (region) => {
      const ok = await ping(region.pool, timeoutMs);
      if (ok) since.delete(region.id);
      else if (!since.has(region.id)) since.set(region.id, now());
      return { region: region.id, ok, downSince: since.get(region.id) ?? null };
    }),
  );
}

const Live = Type.Object({ status: Type.Literal('ok') });
const Readiness = Type.Union([Type.Literal('ready'), Type.Literal('unavailable')]);
/** The public answer: the status and nothing else (the response schema drops anything more). */
const Ready = Type.Object({ status: Readiness });
const RegionStatus = Type.Object({
  status: Readiness,
  regions: Type.Array(
    Type.Object({
      region: Type.String(),
      ok: Type.Boolean(),
      downSince: Type.Union([Type.String(), Type.Null()]),
    }),
  ),
});

export async function healthRoutes(fastify: FastifyInstance, options: HealthOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  // Liveness answers even when overloaded (load.ts): a busy instance is not a dead one.
  app.get('/healthz', { config: { anyHost: true, ...answerUnderPressure }, schema: { response: { 200: Live } } }, async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return { status: 'ok' as const };
  });

  app.get('/readyz', { config: { anyHost: true }, schema: { response: { 200: Ready, 503: Ready } } }, async (_request, reply) => {
    const ready = await isReady(options);
    reply.header('cache-control', 'no-store');
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable' });
  });
}

/**
 * Ready when the control plane and every region this instance serves answer. Regions served
 * elsewhere are not pinged here at all (their status is the SRE endpoint's business).
 */
export async function isReady(options: HealthOptions): Promise<boolean> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const serves = options.serves ?? (() => true);
  const { databases } = options;
  const pools = new Set([databases.controlPool, ...[...databases.regions.values()].filter((r) => serves(r.id)).map((r) => r.pool)]);
  const answers = await Promise.all([...pools].map((pool) => ping(pool, timeoutMs)));
  return answers.every(Boolean);
}

/**
 * For the operators' listener (server.ts's metrics server, never a clinic host):
 * GET /readyz/regions answers the same status as /readyz, plus each region, whether it answers, and
 * since when it has not.
 */
export async function regionStatusRoutes(fastify: FastifyInstance, options: HealthOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get('/readyz/regions', { schema: { response: { 200: RegionStatus, 503: RegionStatus } } }, async (_request, reply) => {
    const checks = await checkRegions(options.databases, { timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS });
    // The status is this instance's readiness (as /readyz); the list is every region it knows.
    const serves = options.serves ?? (() => true);
    // Region `local` is the control plane's own pool (db.ts): its check is the control plane's.
    const controlUp = checks.find((c) => c.region === 'local')?.ok ?? (await ping(options.databases.controlPool, options.timeoutMs ?? DEFAULT_TIMEOUT_MS));
    const ready = controlUp && checks.every((c) => c.ok || !serves(c.region));
    reply.header('cache-control', 'no-store');
    return reply.code(ready ? 200 : 503).send({
      status: ready ? 'ready' : 'unavailable',
      regions: checks.map((c) => ({ region: c.region, ok: c.ok, downSince: c.downSince?.toISOString() ?? null })),
    });
  });
}
