// The only way to obtain a handle on tenant tables: every query built through it is qualified with
// the tenant's schema by Kysely's WithSchemaPlugin. No session-level search_path is ever set, so a
// pooled connection carries nothing from one tenant to the next. A raw `sql` query that forgets the
// schema resolves against `public`, which holds no tenant tables, and fails loudly.
import type { Kysely } from 'kysely';
import type { Region } from '../infra/db.ts';
import type { TenantDb, TenantDatabase } from './tenant-database.ts';

const SCHEMA_NAME = /^t_[0-9]{1,19}$/;

export function isTenantSchemaName(name: string): boolean {
  return SCHEMA_NAME.test(name);
}

export function scopeToTenant(region: Region, schemaName: string): TenantDb {
  if (!isTenantSchemaName(schemaName)) throw new Error(`refusing to scope to non-tenant schema "${schemaName}"`);
  return (region.db as Kysely<TenantDatabase>).withSchema(schemaName);
}
