// Tenant lifecycle: create, suspend, resume, delete, purge. Used by the CLI and the admin pages, so
// both behave the same. Every change is announced (NOTIFY) so app instances drop cached entries.
import { sql } from 'kysely';
import type { MigrationProvider } from 'kysely/migration';
import type pg from 'pg';
import { isUniqueViolation } from '../infra/errors.ts';
import { tenancyErrors } from './errors.ts';
import type { ControlDb, Region, TenantStatus } from '../infra/db.ts';
import { checkSlug } from './host.ts';
import { migrateTenants, migrateTenantSchema, tenantMigrations, type MigrateTenantsOptions } from './migrations.ts';
import { notifyTenantChanged } from './directory.ts';

export const DELETE_GRACE_DAYS = 30;

/** Longest reason for read-only that staff are shown (and the control plane accepts). */
export const READ_ONLY_REASON_MAX = 200;

export interface TenantServiceDeps {
  control: ControlDb;
  controlPool: pg.Pool;
  regions: Map<string, Region>;
  defaultRegion: string;
  tenantMigrations?: MigrationProvider;
}

export interface TenantSummary {
  id: string;
  slug: string;
  displayName: string;
  regionId: string;
  schemaName: string;
  status: TenantStatus;
  schemaVersion: string | null;
  migrationError: string | null;
  /** Set while the clinic is being imported from this archive; an import killed midway leaves it set. */
  buildingFrom: string | null;
  createdAt: Date;
  suspendedAt: Date | null;
  deletedAt: Date | null;
  purgeAfter: Date | null;
  /** Since when the clinic is read-only (setReadOnly); null when writable. */
  readOnlySince: Date | null;
  readOnlyReason: string | null;
}

const summaryColumns = [
  'id', 'slug', 'display_name', 'region_id', 'schema_name', 'status', 'schema_version', 'migration_error', 'building_from',
  'created_at', 'suspended_at', 'deleted_at', 'purge_after', 'read_only_since', 'read_only_reason',
] as const;

type SummaryRow = {
  id: string; slug: string; display_name: string; region_id: string; schema_name: string; status: TenantStatus;
  schema_version: string | null; migration_error: string | null; building_from: string | null; created_at: Date; suspended_at: Date | null;
  deleted_at: Date | null; purge_after: Date | null; read_only_since: Date | null; read_only_reason: string | null;
};

function toSummary(row: SummaryRow): TenantSummary {
  return {
    id: row.id,
    slug: row.slug,
    displayName: row.display_name,
    regionId: row.region_id,
    schemaName: row.schema_name,
    status: row.status,
    schemaVersion: row.schema_version,
    migrationError: row.migration_error,
    buildingFrom: row.building_from,
    createdAt: row.created_at,
    suspendedAt: row.suspended_at,
    deletedAt: row.deleted_at,
    purgeAfter: row.purge_after,
    readOnlySince: row.read_only_since,
    readOnlyReason: row.read_only_reason,
  };
}

export function createTenantService(deps: TenantServiceDeps) {
  const provider = deps.tenantMigrations ?? tenantMigrations();
  const notify = (slug: string) => notifyTenantChanged(deps.controlPool, slug);

  async function find(slug: string): Promise<TenantSummary> {
    const row = await deps.control.selectFrom('control.tenants').select(summaryColumns).where('slug', '=', slug).executeTakeFirst();
    if (!row) throw tenancyErrors.tenantNotFound(slug);
    return toSummary(row);
  }

  async function setStatus(slug: string, from: TenantStatus[], to: TenantStatus, extra: { suspended_at?: Date | null; deleted_at?: Date | null; purge_after?: Date | null } = {}) {
    const current = await find(slug);
    if (!from.includes(current.status)) {
      throw tenancyErrors.wrongStatus(slug, current.status, from.join(' or '));
    }
    const row = await deps.control
      .updateTable('control.tenants')
      .set({ status: to, updated_at: new Date(), ...extra })
      .where('slug', '=', slug)
      .where('status', 'in', from)
      .returning(summaryColumns)
      .executeTakeFirst();
    if (!row) throw tenancyErrors.changed(slug);
    await notify(slug);
    return toSummary(row);
  }

  /**
   * Creates a tenant whose schema `build` makes (migrations for `create`, an archive's rows for an
   * import): the unique slug in the control plane decides concurrent creations (exactly one wins),
   * the tenant is `provisioning` while `build` runs and turns `active` at the version it returns.
   * Any failure drops the schema and the control row, so nothing is left half-created (should the
   * drop itself fail, the tenant is left `deleted`, for `purge --force`). A crash in between leaves
   * it `provisioning`, which answers 503 and which `sidechart migrate` finishes.
   */
  async function createFrom(
    input: { slug: string; displayName?: string; regionId?: string },
    build: (target: { id: string; schemaName: string; region: Region; migrations: MigrationProvider }) => Promise<string | null>,
    options: { buildingFrom?: string } = {},
  ): Promise<TenantSummary> {
    const slug = input.slug.trim().toLowerCase();
    const check = checkSlug(slug);
    if (!check.ok) throw tenancyErrors.invalidSlug(input.slug, check.reason);
    const regionId = input.regionId ?? deps.defaultRegion;
    const region = deps.regions.get(regionId);
    const regionRow = await deps.control.selectFrom('control.regions').select(['id', 'accepting_tenants']).where('id', '=', regionId).executeTakeFirst();
    if (!region || !regionRow) throw tenancyErrors.unknownRegion(regionId);
    if (!regionRow.accepting_tenants) throw tenancyErrors.regionClosed(regionId);
    const displayName = input.displayName?.trim() || slug;
    if (displayName.length > 200) throw tenancyErrors.invalidName();
    let id: string;
    try {
      const next = await sql<{ id: string }>`select nextval(pg_get_serial_sequence('control.tenants', 'id')) as id`.execute(deps.control);
      id = next.rows[0]!.id;
      await deps.control
        .insertInto('control.tenants')
        .values({ id, slug, display_name: displayName, region_id: regionId, schema_name: `t_${id}`, status: 'provisioning', building_from: options.buildingFrom ?? null })
        .execute();
    } catch (error) {
      if (isUniqueViolation(error)) throw tenancyErrors.tenantExists(slug);
      throw error;
    }
    await notify(slug);
    try {
      const version = await build({ id, schemaName: `t_${id}`, region, migrations: provider });
      await deps.control.updateTable('control.tenants').set({ status: 'active', schema_version: version, building_from: null, updated_at: new Date() }).where('id', '=', id).execute();
    } catch (error) {
      try {
        await sql`drop schema if exists ${sql.id(`t_${id}`)} cascade`.execute(region.db);
        await deps.control.deleteFrom('control.tenants').where('id', '=', id).where('status', '=', 'provisioning').execute();
      } catch {
        const now = new Date();
        await deps.control.updateTable('control.tenants').set({ status: 'deleted', deleted_at: now, purge_after: now, updated_at: now }).where('id', '=', id).execute().catch(() => {});
      }
      await notify(slug).catch(() => {});
      throw error;
    }
    await notify(slug);
    return find(slug);
  }

  return {
    find,

    /**
     * Migrates every clinic behind the latest version (and finishes half-created ones), with
     * bounded concurrency; see migrations.ts.
     */
    migrateBehind(options: Pick<MigrateTenantsOptions, 'concurrency' | 'onStart' | 'onResult' | 'lockTimeoutMs'>) {
      return migrateTenants({ ...options, control: deps.control, regions: deps.regions, provider, notifyChange: notify });
    },

    async list(): Promise<TenantSummary[]> {
      const rows = await deps.control.selectFrom('control.tenants').select(summaryColumns).orderBy('slug').execute();
      return rows.map(toSummary);
    },

    /** Creates a tenant: its schema and tables built by the migrations in one transaction (createFrom). */
    create(input: { slug: string; displayName?: string; regionId?: string }): Promise<TenantSummary> {
      return createFrom(input, ({ region, schemaName, migrations }) => migrateTenantSchema(region, schemaName, migrations));
    },

    createFrom,

    suspend: (slug: string) => setStatus(slug, ['active'], 'suspended', { suspended_at: new Date() }),

    resume: (slug: string) => setStatus(slug, ['suspended'], 'active', { suspended_at: null }),

    /**
     * Makes a clinic read-only (while it moves between regions; tenancy/read-only.ts) or writable
     * again, and announces it: every instance refuses or allows changes at once, not after a TTL.
     * Idempotent: a clinic already read-only keeps the time it became so, and its reason unless a
     * new one is given. The schema's own triggers (freezeSchema) are the move's business, not this.
     */
    async setReadOnly(slug: string, readOnly: boolean, reason?: string): Promise<TenantSummary> {
      const text = reason?.trim() || null;
      if (text !== null && text.length > READ_ONLY_REASON_MAX) throw tenancyErrors.readOnlyReasonTooLong(READ_ONLY_REASON_MAX);
      const row = await deps.control
        .updateTable('control.tenants')
        .set(
          readOnly
            ? { read_only_since: sql<Date>`coalesce(read_only_since, now())`, read_only_reason: text ?? sql<string | null>`read_only_reason`, updated_at: new Date() }
            : { read_only_since: null, read_only_reason: null, updated_at: new Date() },
        )
        .where('slug', '=', slug)
        .returning(summaryColumns)
        .executeTakeFirst();
      if (!row) throw tenancyErrors.tenantNotFound(slug);
      await notify(slug);
      return toSummary(row);
    },

    /** Soft delete: the clinic disappears at once; its schema is kept for the grace period. */
    delete(slug: string, graceDays = DELETE_GRACE_DAYS) {
      const now = new Date();
      return setStatus(slug, ['active', 'suspended', 'provisioning'], 'deleted', {
        deleted_at: now,
        purge_after: new Date(now.getTime() + graceDays * 86_400_000),
      });
    },

    /** Brings back a deleted clinic within its grace period (as suspended, for an operator to check). */
    restore: (slug: string) => setStatus(slug, ['deleted'], 'suspended', { deleted_at: null, purge_after: null, suspended_at: new Date() }),

    /** Drops the schema of a deleted tenant whose grace period is over, and frees its slug. */
    async purge(slug: string, options: { force?: boolean } = {}): Promise<TenantSummary> {
      const tenant = await find(slug);
      if (tenant.status !== 'deleted') throw tenancyErrors.notDeleted(slug, tenant.status);
      if (!options.force && tenant.purgeAfter && tenant.purgeAfter > new Date()) {
        throw tenancyErrors.gracePeriod(slug, tenant.purgeAfter.toISOString());
      }
      const region = deps.regions.get(tenant.regionId);
      if (!region) throw tenancyErrors.regionNotHere(tenant.regionId);
      await sql`drop schema if exists ${sql.id(tenant.schemaName)} cascade`.execute(region.db);
      await deps.control.deleteFrom('control.tenants').where('id', '=', tenant.id).execute();
      await notify(slug);
      return tenant;
    },

  };
}

export type TenantService = ReturnType<typeof createTenantService>;
