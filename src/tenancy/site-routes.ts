// The root page: the platform's landing page on the base domain, the clinic's home on its host.
import type { FastifyInstance } from 'fastify';
import { httpErrors } from '../infra/errors.ts';
import { sendPage } from '../infra/html.ts';

export async function siteRoutes(app: FastifyInstance): Promise<void> {
  app.get('/', async (request, reply) => {
    if (request.tenant) {
      return sendPage(reply, 'tenancy/views/clinic-home', { title: request.tenant.displayName, clinicName: request.tenant.displayName });
    }
    if (request.site?.kind === 'platform') {
      return sendPage(reply, 'tenancy/views/landing', { title: 'Sidechart for Cliniko', clinicName: null, baseDomain: request.site.baseDomain });
    }
    throw httpErrors.notFound();
  });
}
