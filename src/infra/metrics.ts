// Prometheus metrics (prom-client): request counts and latency by region, route pattern and status,
// never by tenant (thousands of clinics would explode the series count), plus pool and directory
// gauges and whether each region's database answers. Served on a separate port (server.ts) so they
// are never exposed on clinic hosts.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Databases } from './db.ts';
import { checkRegions } from './health.ts';

export function createMetrics(options: { databases: Databases; defaultMetrics?: boolean }) {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const labelNames = ['method', 'route', 'status_code', 'region'] as const;
  const duration = new Histogram({
    name: 'sidechart_http_request_duration_seconds',
    help: 'HTTP request duration by route pattern and region',
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const requests = new Counter({ name: 'sidechart_http_requests_total', help: 'HTTP requests', labelNames, registers: [registry] });
  new Gauge({
    name: 'sidechart_db_pool_connections',
    help: 'Connections per region pool by state',
    labelNames: ['region', 'state'],
    registers: [registry],
    collect() {
      for (const region of options.databases.regions.values()) {
        this.set({ region: region.id, state: 'total' }, region.pool.totalCount);
        this.set({ region: region.id, state: 'idle' }, region.pool.idleCount);
        this.set({ region: region.id, state: 'waiting' }, region.pool.waitingCount);
      }
    },
  });

  // Pinged at scrape time (at most the readiness deadline); "since when" is on /readyz/regions.
  new Gauge({
    name: 'sidechart_region_up',
    help: "Whether each region's database answers (1) or not (0)",
    labelNames: ['region'],
    registers: [registry],
    async collect() {
      for (const check of await checkRegions(options.databases)) this.set({ region: check.region }, check.ok ? 1 : 0);
    },
  });

  // Anonymous refusals of the patient button are counted here instead of written to the audit
  // trail: a click before sign-in writes nothing to the database (patients/routes.ts).
  const anonymousPatientRequests = new Counter({
    name: 'sidechart_anonymous_patient_requests_total',
    help: 'Patient requests refused to a visitor who is not signed in, by reason (not audited)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });

  const plugin = fp(
    async (app: FastifyInstance) => {
      app.addHook('onResponse', async (request, reply) => {
        const labels = {
          method: request.method,
          // The route pattern, not the URL: /patients, never /patients?patient_id=...
          route: request.routeOptions.url ?? 'unmatched',
          status_code: String(reply.statusCode),
          region: request.tenant?.regionId ?? 'none',
        };
        requests.inc(labels);
        duration.observe(labels, reply.elapsedTime / 1000);
      });
    },
    { name: 'sidechart-metrics' },
  );

  return { registry, plugin, anonymousPatientRequests };
}

export type Metrics = ReturnType<typeof createMetrics>;
