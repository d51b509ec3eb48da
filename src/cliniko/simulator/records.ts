// How the simulator stores Cliniko's records, and the JSON it answers with. Fields default to the
// empty values Cliniko uses, so tests only spell out what they care about.
import type { ClinikoPatient, ClinikoUser } from '../types.ts';

/** A patient to store: `id` is required; other fields default to Cliniko's empty values. */
export type SimulatorPatientInput = Partial<ClinikoPatient> & { id: string };

export interface Account {
  id: string;
  shard: string;
  subdomain: string;
  name: string;
  country: string;
  timeZone: string;
  patients: Map<string, StoredPatient>;
}

export interface StoredPatient {
  data: ClinikoPatient;
  /** Set by mergePatient: the surviving record. */
  mergedIntoId: string | undefined;
}

export interface Credential {
  apiKey: string;
  account: Account;
  user: ClinikoUser;
}

/** Cliniko leaves a field empty with null or '' depending on the field. */
export function isSet(value: unknown): boolean {
  return value !== null && value !== undefined && value !== '';
}

export function isoNow(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A stored patient as the API answers it, with links built from the host it was asked on. */
export function patientJson(stored: StoredPatient, base: string): ClinikoPatient {
  const merged = stored.mergedIntoId === undefined ? (stored.data.merged_with_patient ?? null) : { links: { self: `${base}/patients/${stored.mergedIntoId}` } };
  return { ...structuredClone(stored.data), merged_with_patient: merged, links: { self: `${base}/patients/${stored.data.id}` } };
}

export function patientRecord(input: SimulatorPatientInput): ClinikoPatient {
  const now = isoNow();
  const { id, ...fields } = structuredClone(input);
  const record: ClinikoPatient = {
    id,
    title: null,
    first_name: '',
    last_name: '',
    preferred_first_name: null,
    date_of_birth: null,
    sex: null,
    gender_identity: null,
    pronouns: null,
    email: null,
    patient_phone_numbers: [],
    address_1: '',
    address_2: '',
    address_3: '',
    city: '',
    state: '',
    post_code: '',
    country_code: null,
    occupation: '',
    emergency_contact: '',
    medicare: null,
    medicare_reference_number: null,
    notes: '',
    time_zone: null,
    custom_fields: null,
    created_at: now,
    updated_at: now,
    archived_at: null,
    deleted_at: null,
    merged_at: null,
    merged_with_patient: null,
    ...fields,
  };
  record.label ??= [record.title, record.first_name, record.last_name].filter((part) => isSet(part)).join(' ');
  delete record.links; // built per request from the host it was asked on
  return record;
}

export function userRecord(input: Partial<ClinikoUser> & { id: string }): ClinikoUser {
  const now = isoNow();
  const { id, ...fields } = structuredClone(input);
  return {
    id,
    title: '',
    first_name: 'Demo',
    last_name: 'User',
    email: 'demo.user@example.org',
    role: 'administrator',
    time_zone: 'Melbourne',
    user_active: true,
    created_at: now,
    updated_at: now,
    ...fields,
  };
}
