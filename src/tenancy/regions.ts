// Regions: PostgreSQL clusters where tenant schemas live. Their connection URLs come only from
// configuration; the control plane records which ids exist and whether new clinics may be placed.
import { sql } from 'kysely';
import type { ControlDb, Region } from '../infra/db.ts';
import { tenancyErrors } from './errors.ts';

export interface RegionSummary {
  id: string;
  acceptingTenants: boolean;
  configured: boolean;
  tenants: number;
}

export function createRegionService(deps: { control: ControlDb; regions: ReadonlyMap<string, Region> }) {
  const { control, regions } = deps;
  return {
    /** Records every configured region in the control plane (new ones accept tenants). */
    async register(): Promise<void> {
      await control
        .insertInto('control.regions')
        .values([...regions.keys()].map((id) => ({ id })))
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
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

    async setAccepting(id: string, accepting: boolean): Promise<void> {
      const result = await control
        .updateTable('control.regions')
        .set({ accepting_tenants: accepting, updated_at: new Date() })
        .where('id', '=', id)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) throw tenancyErrors.noSuchRegion(id);
    },
  };
}

export type RegionService = ReturnType<typeof createRegionService>;
