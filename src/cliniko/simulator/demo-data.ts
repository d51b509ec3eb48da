// The demo clinic: one API key, one user and a handful of realistic patients, for `npm start` in
// development and for tests that want real-looking records (archived, merged, hostile markup, the
// largest 64-bit ID).
import type { ClinikoSimulator } from './app.ts';
import type { SimulatorPatientInput } from './records.ts';

export const DEMO_SHARD = 'au1';
/** Not a secret: it only opens the simulator. */
export const DEMO_API_KEY = 'sim0demo4f1c9a7e2b5d8c3a6f0e9d2b7c4a1e8f5d3b6-au1';
export const DEMO_ACCOUNT_ID = '836447129235800001';
export const DEMO_PATIENT_IDS = {
  /** The reference example (Aroha Ngata-O'Brien). */
  example: '836447129235883061',
  archived: '836447129235883070',
  /** Merged into `survivor`. */
  merged: '836447129235883080',
  survivor: '836447129235883081',
  /** Markup and quotes in every name field; the largest possible ID. */
  tricky: '9223372036854775807',
} as const;

export interface DemoAccount {
  shard: string;
  apiKey: string;
  accountId: string;
  subdomain: string;
  patientIds: typeof DEMO_PATIENT_IDS;
}

/** Adds the demo clinic: one key, one user and a handful of realistic patients. */
export function seedDemo(sim: ClinikoSimulator): DemoAccount {
  sim.addAccount({
    shard: DEMO_SHARD,
    apiKey: DEMO_API_KEY,
    accountId: DEMO_ACCOUNT_ID,
    subdomain: 'fitzroy-physio',
    name: 'Fitzroy Physio & Pilates',
    user: { id: '836447129235810001', first_name: 'Priya', last_name: 'Raman', email: 'priya@fitzroy-physio.example', role: 'administrator' },
  });
  sim.addPatient(DEMO_API_KEY, EXAMPLE_PATIENT);
  sim.addPatient(DEMO_API_KEY, {
    id: DEMO_PATIENT_IDS.archived,
    title: 'Mr',
    first_name: 'Archie',
    last_name: 'Vaughan',
    date_of_birth: '1951-09-02',
    sex: 'Male',
    email: 'archie.vaughan@example.org',
    patient_phone_numbers: [{ number: '0400 111 222', normalized_number: '+61400111222', phone_type: 'Mobile' }],
    city: 'Collingwood',
    state: 'VIC',
    post_code: '3066',
    country_code: 'AU',
    created_at: '2019-05-10T01:00:00Z',
    updated_at: '2023-08-01T06:12:00Z',
    archived_at: '2023-08-01T06:12:00Z',
  });
  sim.addPatient(DEMO_API_KEY, {
    id: DEMO_PATIENT_IDS.survivor,
    first_name: 'Mereana',
    last_name: 'Smith',
    date_of_birth: '1992-12-01',
    sex: 'Female',
    email: 'mereana.smith@example.org',
    created_at: '2021-03-03T03:03:03Z',
    updated_at: '2025-06-01T00:00:00Z',
  });
  sim.addPatient(DEMO_API_KEY, {
    id: DEMO_PATIENT_IDS.merged,
    first_name: 'Mere',
    last_name: 'Smith',
    date_of_birth: '1992-12-01',
    email: 'mere.s@example.org',
    created_at: '2024-01-15T09:30:00Z',
    updated_at: '2025-06-01T00:00:00Z',
  });
  sim.mergePatient(DEMO_API_KEY, DEMO_PATIENT_IDS.merged, DEMO_PATIENT_IDS.survivor);
  sim.addPatient(DEMO_API_KEY, {
    id: DEMO_PATIENT_IDS.tricky,
    title: '"Dr"',
    first_name: '<script>alert("first")</script>',
    last_name: `O'Hara "Bobby" </title><img src=x onerror=alert(1)> & Sons`,
    preferred_first_name: `'><svg onload=alert(2)>`,
    date_of_birth: '2000-02-29',
    email: 'bobby+"quotes"@example.org',
    patient_phone_numbers: [{ number: '"><script>alert(3)</script>', phone_type: `Work's "main"` }],
    address_1: '<b>1</b> Example St',
    city: `Saint-Jean-d'Angély`,
    notes: '</textarea><script>alert(4)</script>',
    custom_fields: {
      sections: [{ name: '<i>Intake</i>', fields: [{ name: '"Concern"', type: 'text', value: '<script>alert(5)</script>' }] }],
    },
    created_at: '2025-01-01T00:00:00Z',
    updated_at: '2025-01-02T00:00:00Z',
  });
  return { shard: DEMO_SHARD, apiKey: DEMO_API_KEY, accountId: DEMO_ACCOUNT_ID, subdomain: 'fitzroy-physio', patientIds: DEMO_PATIENT_IDS };
}

/** The reference example body (cliniko-patient-example.json), minus `links` (built per request). */
const EXAMPLE_PATIENT: SimulatorPatientInput = {
  id: DEMO_PATIENT_IDS.example,
  title: 'Ms',
  first_name: 'Aroha',
  last_name: "Ngata-O'Brien",
  preferred_first_name: 'Ro',
  label: "Ms Aroha Ngata-O'Brien",
  date_of_birth: '1987-03-14',
  sex: 'Female',
  gender_identity: 'Woman',
  pronouns: null,
  email: 'aroha@example.org',
  patient_phone_numbers: [
    { number: '0412 345 678', normalized_number: '+61412345678', phone_type: 'Mobile' },
    { number: '(03) 9123 4567', normalized_number: '+61391234567', phone_type: 'Home' },
  ],
  address_1: 'Unit 4, 12 Example Street',
  address_2: '',
  address_3: '',
  city: 'Fitzroy',
  state: 'VIC',
  post_code: '3065',
  country_code: 'AU',
  occupation: 'Landscape architect',
  emergency_contact: 'Tane Ngata (brother) 0498 765 432',
  medicare: '2123 45670 1',
  medicare_reference_number: '1',
  dva_card_number: null,
  notes: 'Prefers morning appointments.',
  appointment_notes: null,
  referral_source: 'GP referral',
  old_reference_id: null,
  time_zone: 'Australia/Melbourne',
  accepted_privacy_policy: true,
  accepted_email_marketing: false,
  accepted_sms_marketing: false,
  receives_confirmation_emails: true,
  receives_cancellation_emails: true,
  reminder_type: 'SMS',
  invoice_default_to: null,
  invoice_email: null,
  invoice_extra_information: null,
  custom_fields: {
    sections: [
      {
        name: 'Intake',
        token: '0b3c2f7e-6a0e-4d7a-9d3e-4c1f5b2a9e10',
        archived: false,
        fields: [
          { token: '5d1e7c44-8f0b-4b8e-a0d2-6f3b9c1e2a77', name: 'Main concern', type: 'paragraph', value: 'Left shoulder pain after fall <3 weeks>' },
          { token: '9a2f1b65-3c4d-4e5f-8a6b-7c8d9e0f1a2b', name: 'Preferred practitioner', type: 'text', value: 'Dr "Sam" Lee & team' },
        ],
      },
    ],
  },
  created_at: '2024-02-01T23:10:44Z',
  updated_at: '2026-11-20T04:31:09Z',
  archived_at: null,
  deleted_at: null,
  merged_at: null,
  merged_with_patient: null,
};
