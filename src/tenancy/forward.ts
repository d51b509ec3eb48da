// Requests for a clinic of another region (issue 12): each instance serves only the clinics placed
// in its own region (REGION), so that a clinic's data is read and written only by its region's
// instances and database. The wildcard DNS record sends every clinic host to the nearest region's
// load balancer (infra/dns.md); when that is not the clinic's region, the request is forwarded, as
// it came (method, path, headers, body stream), to that region's internal ingress
// (REGION_FORWARD_URLS), and its answer streamed back. The forwarded request carries
// `x-sidechart-forwarded-by: <region>`: an instance never forwards a request that already has it
// (no loops, whatever two regions' directories say for a moment during a move), and answers the
// 421 page instead. Patient data passes through this instance in transit (TLS to the other
// region's ingress) but is never read from or written to a database here.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Agent, request as undiciRequest } from 'undici';
import { tenancyErrors } from './errors.ts';

export const FORWARDED_BY_HEADER = 'x-sidechart-forwarded-by';

/** Connection-level headers (RFC 9110 7.6.1): never passed on by a proxy. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

export interface RegionForwarderOptions {
  /** This instance's region (`all`: it serves everything and never forwards). */
  ownRegion: string;
  /** Region id -> origin of its internal ingress. */
  targets: ReadonlyMap<string, string>;
  /** Deadline for the other region to connect and to start answering. */
  timeoutMs: number;
}

/** The region named by an `otherRegion` refusal (clinic.ts), or null for any other error. */
export function otherRegionOf(error: unknown): string | null {
  if ((error as { code?: unknown })?.code !== tenancyErrors.otherRegion.code) return null;
  const regionId = (error as { regionId?: unknown }).regionId;
  return typeof regionId === 'string' ? regionId : null;
}

export function createRegionForwarder(options: RegionForwarderOptions) {
  const agent = new Agent({ connectTimeout: options.timeoutMs, headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs * 4 });

  return {
    /** Whether this request may be forwarded to that region: an address for it, and not forwarded already. */
    canForward(request: FastifyRequest, regionId: string): boolean {
      return options.targets.has(regionId) && request.headers[FORWARDED_BY_HEADER] === undefined;
    },

    /** Sends the request on to the region's ingress and streams its answer back as this reply. */
    async forward(request: FastifyRequest, reply: FastifyReply, regionId: string): Promise<FastifyReply> {
      const origin = options.targets.get(regionId);
      if (origin === undefined) throw tenancyErrors.otherRegion();
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(request.headers)) {
        if (value === undefined || HOP_BY_HOP.has(name)) continue;
        headers[name] = value;
      }
      // The clinic's host as the browser named it (the other region resolves the clinic from it),
      // and who the client is, as a proxy says it (the other side trusts this hop: TRUSTED_PROXIES).
      headers.host = request.host;
      const forwardedFor = request.headers['x-forwarded-for'];
      headers['x-forwarded-for'] = [forwardedFor, request.ip].flat().filter(Boolean).join(', ');
      headers['x-forwarded-proto'] = request.protocol;
      headers['x-forwarded-host'] = request.host;
      headers[FORWARDED_BY_HEADER] = options.ownRegion;
      const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
      let answer;
      try {
        answer = await undiciRequest(`${origin}${request.url}`, {
          method: request.method as 'GET',
          headers,
          body: hasBody ? request.raw : null,
          dispatcher: agent,
          signal: AbortSignal.timeout(options.timeoutMs * 4),
        });
      } catch (error) {
        request.log.warn({ err: error, region: regionId, event: 'region_forward_failed' }, 'could not forward to the clinic\'s region');
        throw tenancyErrors.regionUnreachable();
      }
      request.log.info({ region: regionId, status: answer.statusCode, event: 'region_forwarded' }, 'forwarded to the clinic\'s region');
      reply.code(answer.statusCode);
      for (const [name, value] of Object.entries(answer.headers)) {
        if (value === undefined || HOP_BY_HOP.has(name) || name === 'content-length') continue;
        reply.header(name, value);
      }
      return reply.send(answer.body);
    },

    close: () => agent.close(),
  };
}

export type RegionForwarder = ReturnType<typeof createRegionForwarder>;
