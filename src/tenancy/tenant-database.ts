// The shape of one tenant's schema. The spine knows no feature: each domain adds the tables it owns
// by module augmentation next to its table types, e.g. in src/auth/tables.ts:
//
//   declare module '../tenancy/tenant-database.ts' {
//     interface TenantDatabase extends AuthTables {}
//   }
//
// A `TenantDb` is always scoped to exactly one schema (see clinic.ts); there is no unscoped handle
// of this type.
import type { Kysely } from 'kysely';

export interface TenantDatabase {}

export type TenantDb = Kysely<TenantDatabase>;
