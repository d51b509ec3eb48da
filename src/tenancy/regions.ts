// Regions: PostgreSQL clusters where tenant schemas live. Their connection URLs come only from
// configuration (SIDECHART_REGIONS, or the SIDECHART_REGIONS_FILE secret file); the control plane
// records which ids exist and whether new clinics may be placed there (`drain` stops that). Adding
// a region is: a line in the regions file (the secret), then `sidechart regions add <id>`, which
// reads the file again, checks the connection, records the region and announces it (NOTIFY), so
// running instances open its pool without a restart (runtime.ts refreshRegions).
import { sql } from 'kysely';
import type pg from 'pg';
import type { ControlDb, Region } from '../infra/db.ts';
import { ping } from '../infra/db.ts';
import { tenancyErrors } from './errors.ts';

export const REGIONS_CHANGED_CHANNEL = 'sidechart_regions_changed';

export interface RegionSummary {
  id: string;
  acceptingTenants: boolean;
  /** This process has connection details for it (configuration or the regions file). */
  configured: boolean;
  tenants: number;
}

export interface RegionAdded {
  id: string;
  /** false when the region was already recorded (add is idempotent). */
  recorded: boolean;
  acceptingTenants: boolean;
  serverVersion: string;
}

export function createRegionService(deps: {
  control: ControlDb;
  controlPool: pg.Pool;
  regions: ReadonlyMap<string, Region>;
  /** Reads the regions file again and opens pools for new regions (runtime.ts). */
  refresh: () => string[];
  /** Regions from the regions file (config.fileRegionIds): not recorded at boot. */
  fileRegionIds?: readonly string[];
  /** Deadline for the connection check of `add`. */
  timeoutMs?: number;
}) {
  const { control, regions } = deps;
  const announce = () => sql`select pg_notify(${REGIONS_CHANGED_CHANNEL}, '')`.execute(control);

  async function setAccepting(id: string, accepting: boolean): Promise<void> {
    const result = await control
      .updateTable('control.regions')
      .set({ accepting_tenants: accepting, updated_at: new Date() })
      .where('id', '=', id)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) throw tenancyErrors.noSuchRegion(id);
    await announce();
  }

  return {
    /**
     * At boot: records `local` and the SIDECHART_REGIONS regions in the control plane (new ones
     * accept tenants). Regions of the regions file are recorded by `add` alone, after its checks.
     */
    async register(): Promise<void> {
      const skip = new Set(deps.fileRegionIds ?? []);
      const ids = [...regions.keys()].filter((id) => !skip.has(id));
      if (ids.length === 0) return;
      await control
        .insertInto('control.regions')
        .values(ids.map((id) => ({ id })))
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
    },

    /** Each recorded region, whether it takes new clinics and whether it is configured here (no counts: sign-up's page). */
    async placement(): Promise<Omit<RegionSummary, 'tenants'>[]> {
      const rows = await control.selectFrom('control.regions').select(['id', 'accepting_tenants']).orderBy('id').execute();
      return rows.map((r) => ({ id: r.id, acceptingTenants: r.accepting_tenants, configured: regions.has(r.id) }));
    },

    async list(): Promise<RegionSummary[]> {
      const rows = await control
        .selectFrom('control.regions as r')
        .leftJoin('control.tenants as t', (join) => join.onRef('t.region_id', '=', 'r.id').on('t.status', '!=', 'deleted'))
        .select(['r.id', 'r.accepting_tenants', sql<string>`count(t.id)`.as('tenants')])
        .groupBy(['r.id', 'r.accepting_tenants'])
        .orderBy('r.id')
        .execute();
      return rows.map((r) => ({ id: r.id, acceptingTenants: r.accepting_tenants, configured: regions.has(r.id), tenants: Number(r.tenants) }));
    },

    /**
     * Adds a region whose connection details are in configuration: reads the regions file again,
     * checks that the database answers and that clinic schemas can be created there, records it
     * (`drained`: taking no clinics yet) and tells running instances.
     */
    async add(id: string, options: { drained?: boolean } = {}): Promise<RegionAdded> {
      deps.refresh();
      const region = regions.get(id);
      if (!region) throw tenancyErrors.regionNotConfiguredForAdd(id);
      if (!(await ping(region.pool, deps.timeoutMs ?? 5_000))) throw tenancyErrors.regionNotAnswering(id);
      const check = await sql<{ version: string; can_create: boolean }>`
        select current_setting('server_version') as version,
               has_database_privilege(current_user, current_database(), 'CREATE') as can_create`.execute(region.db);
      const { version, can_create } = check.rows[0]!;
      if (!can_create) throw tenancyErrors.regionCannotCreate(id);
      const inserted = await control
        .insertInto('control.regions')
        .values({ id, accepting_tenants: options.drained !== true })
        .onConflict((oc) => oc.column('id').doNothing())
        .returning('accepting_tenants')
        .executeTakeFirst();
      const row = inserted ?? (await control.selectFrom('control.regions').select('accepting_tenants').where('id', '=', id).executeTakeFirstOrThrow());
      await announce();
      return { id, recorded: inserted !== undefined, acceptingTenants: row.accepting_tenants, serverVersion: version };
    },

    /** Stops placing new clinics in the region (sign-up shows it as not accepting); its clinics keep working. */
    drain: (id: string) => setAccepting(id, false),

    /** Places new clinics in the region again. */
    undrain: (id: string) => setAccepting(id, true),
  };
}

export type RegionService = ReturnType<typeof createRegionService>;
