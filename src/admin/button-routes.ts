// /admin/button: the URL the clinic pastes into Cliniko's custom patient button, built from
// configuration and the clinic's stored slug (infra/urls.ts), never from the request's Host: on the
// base domain the request came in on when several are configured (requestBaseDomain). With a copy
// button (assets/copy.js: no inline script under the CSP), the steps in Cliniko, and a link that
// opens a patient Sidechart holds, the way the button would.
import type { FastifyInstance } from 'fastify';
import { Type } from '@fastify/type-provider-typebox';
import type { Config } from '../config.ts';
import { tenantUrl } from '../infra/urls.ts';
import { patientUrl } from '../patients/routes.ts';
import type { TenantDb } from '../tenancy/tenant-database.ts';
import { requireClinic, requestBaseDomain } from '../tenancy/plugin.ts';
import { sendAdminPage } from './sections.ts';

export interface ButtonRoutesOptions {
  config: Config;
}

export interface HeldPatientLink {
  href: string;
  patientId: string;
  /** When someone last opened it here; null for a patient held but not opened since. */
  viewedAt: Date | null;
}

/**
 * A patient to try the button on: the held patient most recently opened, else any held patient
 * (the most recently refreshed), else null (nobody has opened one yet).
 */
export async function heldPatientToTry(db: TenantDb): Promise<HeldPatientLink | null> {
  const viewed = await db
    .selectFrom('audit_events as a')
    .innerJoin('patients as p', 'p.cliniko_id', 'a.patient_id')
    .select(['p.cliniko_id', 'a.occurred_at'])
    .where('a.action', '=', 'view')
    .where('a.outcome', '=', 'shown')
    .orderBy('a.occurred_at', 'desc')
    .orderBy('a.id', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (viewed) return { href: patientUrl(viewed.cliniko_id), patientId: viewed.cliniko_id, viewedAt: viewed.occurred_at };
  const held = await db.selectFrom('patients').select('cliniko_id').where('deleted_at', 'is', null).orderBy('updated_at', 'desc').limit(1).executeTakeFirst();
  return held ? { href: patientUrl(held.cliniko_id), patientId: held.cliniko_id, viewedAt: null } : null;
}

export async function buttonRoutes(app: FastifyInstance, options: ButtonRoutesOptions): Promise<void> {
  app.get('/button', { schema: { querystring: Type.Object({}) } }, async (request, reply) => {
    const clinic = requireClinic(request);
    const buttonUrl = tenantUrl(options.config, clinic.tenant.slug, '/patients', requestBaseDomain(request));
    const tryIt = await heldPatientToTry(clinic.db);
    return sendAdminPage(reply, 'button', 'button', {
      title: 'The button',
      buttonUrl,
      tryIt: tryIt && { ...tryIt, viewedAt: tryIt.viewedAt?.toISOString().replace('T', ' ').slice(0, 16) ?? null },
    });
  });
}
