// The root page: the platform's landing page on the base domain, the clinic's home on its host.
// The clinic's home is a feature's page (patients/home.ts: recent patients, search): it is handed in
// by app.ts, so tenancy imports no feature.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TSchema } from '@fastify/type-provider-typebox';
import { httpErrors } from '../infra/errors.ts';
import { sendPage } from '../infra/html.ts';

export interface SiteRoutesOptions {
  clinicHome: {
    /** The query string the home page accepts (checked on the platform host too: one route). */
    querystring: TSchema;
    handler(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply>;
  };
}

export async function siteRoutes(app: FastifyInstance, options: SiteRoutesOptions): Promise<void> {
  app.get('/', { schema: { querystring: options.clinicHome.querystring } }, async (request, reply) => {
    if (request.tenant) return options.clinicHome.handler(request, reply);
    if (request.site?.kind === 'platform') {
      return sendPage(reply, 'tenancy/views/landing', { title: 'Sidechart for Cliniko', clinicName: null, baseDomain: request.site.baseDomain });
    }
    throw httpErrors.notFound();
  });
}
