// Errors of the tenancy spine: what a host, a clinic's status or the control plane can refuse.
import { defineError } from '../infra/errors.ts';

const RETRY_AFTER = { 'retry-after': '5' };

export const tenancyErrors = {
  invalidHost: defineError('invalid_host', 400, 'This address is not a Sidechart address.'),
  noClinic: defineError('no_clinic', 404, 'There is no clinic at this address. Check the link, or ask your clinic for its Sidechart address.'),
  clinicSuspended: defineError('clinic_suspended', 403, (name: string) => `${name} is suspended on Sidechart. Ask your clinic administrator.`),
  clinicProvisioning: defineError('clinic_provisioning', 503, 'This clinic is being set up. Try again in a moment.', { headers: RETRY_AFTER }),
  directoryUnavailable: defineError('directory_unavailable', 503, 'Sidechart cannot reach its database right now. Try again in a moment.', { headers: RETRY_AFTER }),
  regionUnavailable: defineError('region_unavailable', 503, 'This clinic is temporarily unavailable.', { headers: { 'retry-after': '60' } }),
  // Operator-facing (CLI, provisioning): the messages name the clinic by its slug.
  clinicDeleted: defineError('no_clinic', 404, (slug: string) => `clinic "${slug}" is deleted`),
  clinicNotActive: defineError('tenant_not_active', 409, (slug: string, status: string, why: string) => `clinic "${slug}" is ${status}; ${why}`),
  regionNotConfigured: defineError('region_unavailable', 503, (slug: string, region: string) => `clinic "${slug}" is in region "${region}", which this configuration has no database for`),
  tenantNotFound: defineError('tenant_not_found', 404, (slug: string) => `no clinic "${slug}"`),
  tenantExists: defineError('tenant_exists', 409, (slug: string) => `the address "${slug}" is already taken`),
  invalidSlug: defineError('invalid_slug', 400, (slug: string, reason: string) => `cannot use "${slug}": ${reason}`),
  invalidName: defineError('invalid_name', 400, 'the clinic name is longer than 200 characters'),
  unknownRegion: defineError('unknown_region', 400, (region: string) => `no region "${region}" (see: sidechart regions list)`),
  regionNotHere: defineError('unknown_region', 400, (region: string) => `region "${region}" is not configured here`),
  noSuchRegion: defineError('unknown_region', 404, (region: string) => `no region "${region}"`),
  regionClosed: defineError('region_closed', 409, (region: string) => `region "${region}" is not accepting new clinics`),
  wrongStatus: defineError('tenant_wrong_status', 409, (slug: string, status: string, needed: string) => `clinic "${slug}" is ${status}; this needs it to be ${needed}`),
  changed: defineError('tenant_changed', 409, (slug: string) => `clinic "${slug}" changed while updating; try again`),
  notDeleted: defineError('tenant_not_deleted', 409, (slug: string, status: string) => `clinic "${slug}" is ${status}; delete it first`),
  gracePeriod: defineError('grace_period', 409, (slug: string, after: string) => `clinic "${slug}" can be purged after ${after} (or pass --force)`),
};
