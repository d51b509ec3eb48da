// Regions: PostgreSQL clusters where tenant schemas live. Their connection URLs come only from
// configuration; the control plane records which ids exist and whether new clinics may be placed.
import { sql } from 'kysely';
import type { ControlDb, Region } from '../infra/db.ts';
import { AppError } from '../infra/errors.ts';

export interface RegionSummary {
  id: string;
  acceptingTenants: boolean;
  configured: boolean;
  tenants: number;
}

/** Records every configured region in the control plane (new ones accept tenants). */
export async function registerRegions(control: ControlDb, regions: Map<string, Region>): Promise<void> {
  const ids = [...regions.keys()];
  await control
    .insertInto('control.regions')
    .values(ids.map((id) => ({ id })))
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

export async function listRegions(control: ControlDb, regions: Map<string, Region>): Promise<RegionSummary[]> {
  const rows = await control
    .selectFrom('control.regions as r')
    .leftJoin('control.tenants as t', (join) => join.onRef('t.region_id', '=', 'r.id').on('t.status', '!=', 'deleted'))
    .select(['r.id', 'r.accepting_tenants', sql<string>`count(t.id)`.as('tenants')])
    .groupBy(['r.id', 'r.accepting_tenants'])
    .orderBy('r.id')
    .execute();
  return rows.map((r) => ({ id: r.id, acceptingTenants: r.accepting_tenants, configured: regions.has(r.id), tenants: Number(r.tenants) }));
}

export async function setRegionAccepting(control: ControlDb, id: string, accepting: boolean): Promise<void> {
  const result = await control
    .updateTable('control.regions')
    .set({ accepting_tenants: accepting, updated_at: new Date() })
    .where('id', '=', id)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw new AppError(404, 'unknown_region', `no region "${id}"`);
}
