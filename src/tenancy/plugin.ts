// Tenant resolution, the first thing every request goes through (onRequest: no body read yet).
// The host parser decides what the Host names; the clinic opener (clinic.ts) says whether that
// clinic exists and may be served; the request then carries the clinic and a handle scoped to its
// schema, and nothing else can reach tenant tables. Refusals are thrown: the one error handler
// answers them.
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { otherRegionOf, type RegionForwarder } from './forward.ts';
import { httpErrors } from '../infra/errors.ts';
import { absoluteFormHost, hostHeaderCount, originForm, parseHost } from './host.ts';
import type { Clinic, Clinics } from './clinic.ts';
import type { TenantRecord } from './directory.ts';
import { tenancyErrors } from './errors.ts';

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
    /** The clinic's scoped handle: queries through it can only touch the clinic's own schema. */
    clinic: Clinic | null;
  }
  interface FastifyInstance {
    /** For routes off clinic hosts that open a clinic (the auth host): see forwardElsewhere. */
    regionForwarder: RegionForwarder | null;
  }
  interface FastifyContextConfig {
    /** Route answers on any host, without tenant resolution (health checks). */
    anyHost?: boolean;
  }
}

export interface TenancyPluginOptions {
  baseDomains: readonly string[];
  clinics: Clinics;
  /** Sends requests for clinics of other regions there (forward.ts); null: serves every region. */
  forwarder?: RegionForwarder | null;
}

async function tenancy(app: FastifyInstance, options: TenancyPluginOptions): Promise<void> {
  app.decorateRequest('site', null);
  app.decorateRequest('tenant', null);
  app.decorateRequest('clinic', null);
  app.decorate('regionForwarder', options.forwarder ?? null);

  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config.anyHost) return;
    if (hostHeaderCount(request.raw.rawHeaders) > 1) throw tenancyErrors.invalidHost();
    // An absolute-form target's authority wins over Host (RFC 9112); otherwise request.host, which
    // honours X-Forwarded-Host only when the peer is a configured trusted proxy.
    const target = request.raw.url;
    const targetHost = absoluteFormHost(target);
    const resolution = parseHost(targetHost ?? request.host, options.baseDomains);
    if (resolution.kind === 'invalid') throw tenancyErrors.invalidHost();
    // From here on the request reads as if Host had named that authority: what comes after
    // (the session's cookie-path check, the remembered return path) expects a path, and met
    // `http://...` with a 500 (found by the fuzz, soak/fuzz.ts).
    if (targetHost !== null) request.raw.url = originForm(target!);
    request.site = resolution;
    if (resolution.kind !== 'tenant') return;
    let clinic: Clinic;
    try {
      clinic = await options.clinics.open(resolution.slug, { for: 'visitor' });
    } catch (error) {
      const forwarded = await forwardElsewhere(request, reply, error);
      if (forwarded !== null) return forwarded;
      if ((error as { code?: unknown }).code === tenancyErrors.directoryUnavailable.code) request.log.error({ err: (error as Error).cause }, 'tenant directory unavailable');
      if ((error as { code?: unknown }).code === tenancyErrors.regionUnavailable.code) request.log.error({ slug: resolution.slug }, 'tenant placed in a region this instance has no pool for');
      throw error;
    }
    request.tenant = clinic.tenant;
    request.clinic = clinic;
    // Every later line about this request, including "request completed", names the clinic.
    request.log = request.log.child({ tenant: clinic.tenant.slug });
    reply.log = request.log;
  });
}

export const tenancyPlugin = fp(tenancy, { name: 'sidechart-tenancy', fastify: '5.x' });

/**
 * When `error` says the clinic lives in another region (clinic.ts), forwards this request there and
 * resolves to the reply; null when the error is another one or the request cannot be forwarded
 * (then the caller throws the error: the 421 page).
 */
export async function forwardElsewhere(request: FastifyRequest, reply: FastifyReply, error: unknown): Promise<FastifyReply | null> {
  const regionId = otherRegionOf(error);
  const forwarder = request.server.regionForwarder;
  if (regionId === null || forwarder === null || !forwarder.canForward(request, regionId)) return null;
  return forwarder.forward(request, reply, regionId);
}

/**
 * For routes that only make sense on a clinic's host: 404 elsewhere. Returns the clinic, so a
 * handler reads `const clinic = requireClinic(request)` rather than asserting non-null.
 */
export function requireClinic(request: FastifyRequest): Clinic {
  if (!request.clinic) throw httpErrors.notFound();
  return request.clinic;
}

/**
 * The base domain the request came in on: one of the configured ones, as the host parser matched
 * it, so links built with it are still built from configuration (infra/urls.ts).
 */
export function requestBaseDomain(request: FastifyRequest): string {
  if (!request.site) throw httpErrors.notFound();
  return request.site.baseDomain;
}

/** preHandler form of requireClinic, for route plugins whose every route is clinic-only. */
export async function requireTenant(request: FastifyRequest): Promise<void> {
  requireClinic(request);
}
