// Tenant resolution, the first thing every request goes through (onRequest: no body read yet).
// The host parser decides what the Host names; the directory says whether that clinic exists and
// may be served; the request then carries the tenant and a handle scoped to its schema, and nothing
// else can reach tenant tables.
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Region } from '../infra/db.ts';
import { AppError } from '../infra/errors.ts';
import { sendProblem } from '../infra/http.ts';
import { parseHost } from './host.ts';
import type { TenantDirectory, TenantRecord } from './directory.ts';
import { scopeToTenant } from './clinic.ts';
import type { TenantDb } from './tenant-database.ts';

/** What the host of this request is: a clinic, the platform itself, or a reserved platform host. */
export type Site =
  | { kind: 'tenant'; slug: string; baseDomain: string }
  | { kind: 'platform'; baseDomain: string }
  | { kind: 'reserved'; label: string; baseDomain: string };

declare module 'fastify' {
  interface FastifyRequest {
    site: Site | null;
    /** The clinic this request is for; null on platform hosts and anyHost routes. */
    tenant: TenantRecord | null;
    /** Queries through this handle can only touch the tenant's own schema. */
    tenantDb: TenantDb | null;
  }
  interface FastifyContextConfig {
    /** Route answers on any host, without tenant resolution (health checks). */
    anyHost?: boolean;
  }
}

export interface TenancyPluginOptions {
  baseDomains: readonly string[];
  directory: TenantDirectory;
  regions: Map<string, Region>;
}

const RETRY_AFTER_SECONDS = '5';

async function tenancy(app: FastifyInstance, options: TenancyPluginOptions): Promise<void> {
  app.decorateRequest('site', null);
  app.decorateRequest('tenant', null);
  app.decorateRequest('tenantDb', null);

  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config.anyHost) return;
    // request.host honours X-Forwarded-Host only when the peer is a configured trusted proxy.
    const resolution = parseHost(request.host, options.baseDomains);
    if (resolution.kind === 'invalid') {
      return sendProblem(request, reply, { statusCode: 400, code: 'invalid_host', message: 'This address is not a Sidechart address.' });
    }
    if (resolution.kind !== 'tenant') {
      request.site = resolution;
      return;
    }
    request.site = resolution;
    let tenant: TenantRecord | null;
    try {
      tenant = await options.directory.lookup(resolution.slug);
    } catch (error) {
      request.log.error({ err: error }, 'tenant directory unavailable');
      return sendProblem(request, reply, { statusCode: 503, code: 'directory_unavailable', message: 'Sidechart cannot reach its database right now. Try again in a moment.', headers: { 'retry-after': RETRY_AFTER_SECONDS } });
    }
    const refusal = refuse(tenant);
    if (refusal) return sendProblem(request, reply, refusal);
    const region = options.regions.get(tenant!.regionId);
    if (!region) {
      request.log.error({ region: tenant!.regionId }, 'tenant placed in a region this instance has no pool for');
      return sendProblem(request, reply, { statusCode: 503, code: 'region_unavailable', message: 'This clinic is temporarily unavailable.', headers: { 'retry-after': '60' } });
    }
    request.tenant = tenant;
    request.tenantDb = scopeToTenant(region, tenant!.schemaName);
    // Every later line about this request, including "request completed", names the clinic.
    request.log = request.log.child({ tenant: tenant!.slug });
    reply.log = request.log;
  });
}

function refuse(tenant: TenantRecord | null) {
  if (tenant === null || tenant.status === 'deleted') {
    return { statusCode: 404, code: 'no_clinic', message: 'There is no clinic at this address. Check the link, or ask your clinic for its Sidechart address.' };
  }
  if (tenant.status === 'suspended') {
    return { statusCode: 403, code: 'clinic_suspended', message: `${tenant.displayName} is suspended on Sidechart. Ask your clinic administrator.` };
  }
  if (tenant.status === 'provisioning') {
    return { statusCode: 503, code: 'clinic_provisioning', message: 'This clinic is being set up. Try again in a moment.', headers: { 'retry-after': RETRY_AFTER_SECONDS } };
  }
  return null;
}

export const tenancyPlugin = fp(tenancy, { name: 'sidechart-tenancy', fastify: '5.x' });

/** For route plugins that only make sense on a clinic's host: 404 elsewhere. */
export async function requireTenant(request: FastifyRequest): Promise<void> {
  if (!request.tenant || !request.tenantDb) {
    throw new AppError(404, 'not_found', 'There is no page at this address.');
  }
}
