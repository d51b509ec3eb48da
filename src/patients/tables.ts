// Tenant-schema tables owned by the patients domain (migrations/tenant/).
import type { ColumnType } from 'kysely';

export interface PatientsTable {
  /** Cliniko's 64-bit ID; pg returns bigint as a string, which is what we want end to end. */
  cliniko_id: string;
  first_name: ColumnType<string, string | undefined, string>;
  last_name: ColumnType<string, string | undefined, string>;
  data: ColumnType<unknown, string | undefined, string>;
  fetched_at: Date | null;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export interface PatientTables {
  patients: PatientsTable;
}
