// The shape of one tenant's schema, composed from the tables each domain owns. A `TenantDb` is
// always scoped to exactly one schema (see scope.ts); there is no unscoped handle of this type.
import type { Kysely } from 'kysely';
import type { AuthTables } from '../auth/tables.ts';
import type { PatientTables } from '../patients/tables.ts';

export interface TenantDatabase extends PatientTables, AuthTables {}

export type TenantDb = Kysely<TenantDatabase>;
