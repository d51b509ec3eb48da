// Shapes of the Cliniko records Sidechart reads. Field names follow Cliniko's JSON (snake_case) so a
// record can be stored whole and read back without mapping. Every field is optional or nullable:
// older shards omit some, and Cliniko adds new ones, which the index signatures keep (we store the
// whole JSON). IDs are 64-bit integers sent as strings and stay strings here: never Number() them.

/** A Cliniko ID: decimal digits, possibly above 2^53. */
export type ClinikoId = string;

export interface ClinikoLinks {
  self: string;
  [key: string]: unknown;
}

export interface ClinikoPhoneNumber {
  number: string;
  phone_type: string | null;
  normalized_number?: string | null;
  [key: string]: unknown;
}

export interface ClinikoCustomField {
  name: string;
  type: string;
  value: unknown;
  token?: string;
  [key: string]: unknown;
}

export interface ClinikoCustomFieldSection {
  name: string;
  fields: ClinikoCustomField[];
  token?: string;
  archived?: boolean;
  [key: string]: unknown;
}

export interface ClinikoPatient {
  id: ClinikoId;
  title?: string | null;
  first_name?: string | null;
  last_name?: string | null;
  preferred_first_name?: string | null;
  label?: string | null;
  date_of_birth?: string | null;
  sex?: string | null;
  gender_identity?: string | null;
  pronouns?: unknown;
  email?: string | null;
  patient_phone_numbers?: ClinikoPhoneNumber[] | null;
  address_1?: string | null;
  address_2?: string | null;
  address_3?: string | null;
  city?: string | null;
  state?: string | null;
  post_code?: string | null;
  country_code?: string | null;
  occupation?: string | null;
  emergency_contact?: string | null;
  medicare?: string | null;
  medicare_reference_number?: string | null;
  notes?: string | null;
  time_zone?: string | null;
  custom_fields?: { sections?: ClinikoCustomFieldSection[]; [key: string]: unknown } | null;
  /** UTC ISO 8601 times; old API versions sent "" for "never". */
  created_at?: string | null;
  updated_at?: string | null;
  archived_at?: string | null;
  deleted_at?: string | null;
  merged_at?: string | null;
  /** Set when this record was merged into another: `links.self` is the surviving patient's URL. */
  merged_with_patient?: { links: ClinikoLinks; [key: string]: unknown } | null;
  links?: ClinikoLinks;
  [key: string]: unknown;
}

/** `GET /patients` (and other lists): one page plus the link to the next. */
export interface ClinikoPatientPage {
  patients: ClinikoPatient[];
  total_entries?: number;
  links?: { self?: string; next?: string; previous?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** `GET /user`: the Cliniko user who created the API key. */
export interface ClinikoUser {
  id: ClinikoId;
  title?: string | null;
  first_name?: string | null;
  last_name?: string | null;
  email?: string | null;
  role?: string | null;
  time_zone?: string | null;
  user_active?: boolean;
  created_at?: string | null;
  updated_at?: string | null;
  links?: ClinikoLinks;
  [key: string]: unknown;
}

export interface ClinikoAccount {
  id: ClinikoId;
  name?: string | null;
  subdomain?: string | null;
  country?: string | null;
  time_zone?: string | null;
  [key: string]: unknown;
}

/** `GET /settings`: account-wide settings; `account` identifies the clinic behind a key. */
export interface ClinikoSettings {
  account: ClinikoAccount;
  links?: ClinikoLinks;
  [key: string]: unknown;
}
