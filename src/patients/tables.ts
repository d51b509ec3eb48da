// Tenant-schema tables owned by the patients domain (migrations/tenant/0001 and 0004), and the
// clinic's Cliniko connection (src/cliniko/connection.ts), which lives in the same migration.
import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | undefined, Date>;
type NullableTimestamp = ColumnType<Date | null, Date | null | undefined, Date | null>;
type NullableText = ColumnType<string | null, string | null | undefined, string | null>;

export interface PatientsTable {
  /** Cliniko's 64-bit ID; pg returns bigint as a string, which is what we want end to end. */
  cliniko_id: string;
  first_name: ColumnType<string, string | undefined, string>;
  last_name: ColumnType<string, string | undefined, string>;
  /** The whole Cliniko JSON as last fetched (IDs as strings). Written as JSON text. */
  data: ColumnType<unknown, string | undefined, string>;
  /** When Cliniko last answered with this record. */
  fetched_at: Date | null;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
  preferred_first_name: NullableText;
  /** YYYY-MM-DD as Cliniko sends it. */
  date_of_birth: NullableText;
  archived_at: NullableTimestamp;
  deleted_at: NullableTimestamp;
  merged_at: NullableTimestamp;
  /** The surviving record when Cliniko merged this one into another. */
  merged_into_id: NullableText;
  cliniko_updated_at: NullableTimestamp;
  /** Last refresh attempt, and why it failed (a ClinikoErrorKind) when it did. */
  sync_attempted_at: NullableTimestamp;
  sync_error: NullableText;
  sync_error_message: NullableText;
}

/** Every column of `patients`, for queries that must name them (prepared statements, infra/db.ts). */
export const PATIENT_COLUMNS = [
  'cliniko_id', 'first_name', 'last_name', 'data', 'fetched_at', 'created_at', 'updated_at', 'preferred_first_name', 'date_of_birth',
  'archived_at', 'deleted_at', 'merged_at', 'merged_into_id', 'cliniko_updated_at', 'sync_attempted_at', 'sync_error', 'sync_error_message',
] as const satisfies readonly (keyof PatientsTable)[];
// Does not compile while a column of PatientsTable is missing from the list above.
const everyPatientColumn: [Exclude<keyof PatientsTable, (typeof PATIENT_COLUMNS)[number]>] extends [never] ? true : false = true;
void everyPatientColumn;

export interface PatientNotesTable {
  id: Generated<string>;
  patient_id: string;
  author_user_id: NullableText;
  author_name: string;
  body: string;
  created_at: ColumnType<Date, Date | undefined, never>;
}

export type AuditAction =
  | 'view'
  | 'denied'
  | 'note_added'
  // The admin area (src/admin/): reading the trail is itself recorded (migrations/tenant/0008).
  | 'audit_viewed'
  | 'audit_exported'
  // Admin changes to staff (migrations/tenant/0006, src/admin/staff-routes.ts, src/auth/invitations.ts).
  | 'staff_invited'
  | 'invitation_revoked'
  | 'invitation_accepted'
  | 'staff_role_changed'
  | 'staff_disabled'
  | 'staff_enabled'
  | 'staff_removed'
  // The clinic's Cliniko connection from the admin page, and the clinic's creation by sign-up (0009).
  | 'cliniko_connected'
  | 'cliniko_disconnected'
  | 'clinic_created'
  // The clinic's sign-in settings from the admin page (0010, src/admin/sign-in-routes.ts).
  | 'sign_in_settings_changed';

/** Append-only (a trigger refuses UPDATE, DELETE and TRUNCATE). */
export interface AuditEventsTable {
  id: Generated<string>;
  occurred_at: ColumnType<Date, Date | undefined, never>;
  user_id: ColumnType<string | null, string | null, never>;
  patient_id: ColumnType<string | null, string | null, never>;
  action: ColumnType<AuditAction, AuditAction, never>;
  outcome: ColumnType<string, string, never>;
  detail: ColumnType<string | null, string | null | undefined, never>;
  client_ip: ColumnType<string | null, string | null, never>;
  user_agent: ColumnType<string | null, string | null, never>;
  sec_fetch_site: ColumnType<string | null, string | null, never>;
  referrer: ColumnType<string | null, string | null, never>;
  request_id: ColumnType<string | null, string | null | undefined, never>;
}

/** At most one row (id is always true). */
export interface ClinikoConnectionTable {
  id: ColumnType<boolean, boolean | undefined, never>;
  /** `v1.<kid>...` from the secret box, aad `tenant:<schema>:cliniko_api_key`. */
  api_key_sealed: string;
  shard: string;
  account_id: string;
  account_subdomain: NullableText;
  account_name: NullableText;
  cliniko_user_id: NullableText;
  cliniko_user_name: NullableText;
  /** Who connected it: `cli` or the admin's e-mail. */
  connected_by: string;
  connected_at: Timestamp;
  key_sealed_at: Timestamp;
}

export interface PatientTables {
  patients: PatientsTable;
  patient_notes: PatientNotesTable;
  audit_events: AuditEventsTable;
  cliniko_connection: ClinikoConnectionTable;
}

declare module '../tenancy/tenant-database.ts' {
  interface TenantDatabase extends PatientTables {}
}
