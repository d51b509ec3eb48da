// The one way to open a clinic. Given a slug (or, for the session store, a region and schema named
// by a session ID), it checks the clinic's status and region and returns the clinic with a handle
// scoped to its schema: a `Clinic`. The request hook, the CLI, the platform sign-in hand-off, the
// demo and the simulator wiring all come through here; nothing outside tenancy touches a region's
// pool or unscoped Kysely instance.
//
// A scoped handle qualifies every table of every built query with the clinic's schema (Kysely's
// WithSchemaPlugin). No session-level search_path is ever set, so a pooled connection carries
// nothing from one clinic to the next; a raw `sql` query that forgets the schema resolves against
// `public`, which holds no tenant tables, and fails loudly.
import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import type { Region } from '../infra/db.ts';
import type { TenantDirectory, TenantRecord } from './directory.ts';
import { tenancyErrors } from './errors.ts';
import type { TenantDb, TenantDatabase } from './tenant-database.ts';

const SCHEMA_NAME = /^t_[0-9]{1,19}$/;

export function isTenantSchemaName(name: string): boolean {
  return SCHEMA_NAME.test(name);
}

/** A clinic's scoped handle and the schema it is scoped to (the schema names sealed secrets). */
export interface ClinicScope {
  db: TenantDb;
  schemaName: string;
}

/** An opened clinic: its directory record and its scope. */
export interface Clinic extends ClinicScope {
  tenant: TenantRecord;
}

export function scopeToTenant(region: Region, schemaName: string): TenantDb {
  if (!isTenantSchemaName(schemaName)) throw new Error(`refusing to scope to non-tenant schema "${schemaName}"`);
  return (region.db as Kysely<TenantDatabase>).withSchema(schemaName);
}

export type OpenPurpose =
  /** Serving a visitor: only an active clinic; each other status has its own page. */
  | { for: 'visitor' }
  /** An operator or background job: anything not deleted, or `active` with the reason it is needed. */
  | { for: 'operator'; needsActive?: string };

/**
 * Scoped handles kept per region, the most recently used clinics': building one (Kysely's
 * withSchema) takes ~25 µs, a tenth of an anonymous click, and holding one ~6.4 KB.
 */
const HANDLES_PER_REGION = 1_000;

export interface ClinicsDeps {
  directory: TenantDirectory;
  regions: ReadonlyMap<string, Region>;
  /**
   * Whether this instance serves a region's clinics (REGION). Visitors of a clinic elsewhere are
   * refused with `otherRegion` (the request hook forwards them), and a session naming such a
   * clinic reads as none: while serving a request, an instance never touches another region's
   * clinic data. Operators (CLI, provisioning) are not bound by it. Default: every region.
   */
  serves?: (regionId: string) => boolean;
}

export function createClinics(deps: ClinicsDeps) {
  const serves = deps.serves ?? (() => true);
  // Where each recently opened clinic's schema lives now. A session ID names the region its session
  // was created in (auth/session/id.ts); after a move (move.ts) the schema, with the same name and
  // its sessions, is in another region, and this says which. Bounded like every cache here.
  const regionOfSchema = new LRUCache<string, string>({ max: 50_000 });
  // A scoped handle holds no state of its own (a Kysely instance with a plugin over the region's
  // pool), so one per schema can be shared by every request; bounded like every cache here.
  const handles = new Map<Region, LRUCache<string, TenantDb>>();
  function handleFor(region: Region, schemaName: string): TenantDb {
    let perRegion = handles.get(region);
    if (!perRegion) handles.set(region, (perRegion = new LRUCache<string, TenantDb>({ max: HANDLES_PER_REGION })));
    let db = perRegion.get(schemaName);
    if (!db) perRegion.set(schemaName, (db = scopeToTenant(region, schemaName)));
    return db;
  }

  function check(slug: string, tenant: TenantRecord | null, purpose: OpenPurpose): TenantRecord {
    if (purpose.for === 'visitor') {
      if (tenant === null || tenant.status === 'deleted') throw tenancyErrors.noClinic();
      if (tenant.status === 'suspended') throw tenancyErrors.clinicSuspended(tenant.displayName);
      if (tenant.status === 'provisioning') throw tenancyErrors.clinicProvisioning();
      return tenant;
    }
    if (tenant === null) throw tenancyErrors.tenantNotFound(slug);
    if (tenant.status === 'deleted') throw tenancyErrors.clinicDeleted(tenant.slug);
    if (purpose.needsActive !== undefined && tenant.status !== 'active') throw tenancyErrors.clinicNotActive(tenant.slug, tenant.status, purpose.needsActive);
    return tenant;
  }

  function scopeOf(tenant: TenantRecord, purpose: OpenPurpose): Clinic {
    if (purpose.for === 'visitor' && !serves(tenant.regionId)) throw Object.assign(tenancyErrors.otherRegion(), { regionId: tenant.regionId });
    const region = deps.regions.get(tenant.regionId);
    if (!region) throw purpose.for === 'visitor' ? tenancyErrors.regionUnavailable() : tenancyErrors.regionNotConfigured(tenant.slug, tenant.regionId);
    if (regionOfSchema.get(tenant.schemaName) !== tenant.regionId) regionOfSchema.set(tenant.schemaName, tenant.regionId);
    return { tenant, db: handleFor(region, tenant.schemaName), schemaName: tenant.schemaName };
  }

  return {
    /**
     * The clinic at this slug, checked for the purpose; throws the coded error that says why not.
     * Visitors read the directory's cache; operators read the control plane afresh.
     */
    async open(slug: string, purpose: OpenPurpose): Promise<Clinic> {
      let tenant: TenantRecord | null;
      try {
        tenant = purpose.for === 'visitor' ? await deps.directory.lookup(slug) : await deps.directory.load(slug);
      } catch (error) {
        throw Object.assign(tenancyErrors.directoryUnavailable(), { cause: error });
      }
      return scopeOf(check(slug, tenant, purpose), purpose);
    },

    /**
     * The scope a session ID names (the session store gets no request), in the region where its
     * schema lives now (the clinic was opened for this request first, so that is known; a clinic
     * moved since the session began is found in its new region). Null for a region this instance
     * does not serve or has no pool for, or a malformed schema: such a session reads as "none".
     */
    scopeAt(location: { regionId: string; schemaName: string }): (ClinicScope & { regionId: string }) | null {
      const regionId = regionOfSchema.get(location.schemaName) ?? location.regionId;
      const region = deps.regions.get(regionId);
      if (!region || !serves(regionId) || !isTenantSchemaName(location.schemaName)) return null;
      return { db: handleFor(region, location.schemaName), schemaName: location.schemaName, regionId };
    },
  };
}

export type Clinics = ReturnType<typeof createClinics>;
