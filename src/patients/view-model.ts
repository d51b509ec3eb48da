// What the patient page shows, computed from the stored Cliniko record: pure functions, so the
// template only prints (escaped) strings.
//
// Dates: date of birth is a calendar date and shown as such. Age is counted on today's date in the
// patient's time zone (Cliniko's `time_zone`, when it is an IANA zone such as Australia/Melbourne),
// else in UTC: near midnight the clinic's "today" and UTC's differ, and a birthday should arrive
// on the clinic's day. Times (last synced, merged, notes) are shown in that same zone, named.
import { LRUCache } from 'lru-cache';
import type { ClinikoPatient } from '../cliniko/types.ts';
import type { NoteRow } from './notes.ts';
import type { PatientRow, SyncFailureKind, SyncState } from './sync.ts';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export interface CalendarDate {
  year: number;
  month: number; // 1..12
  day: number;
}

/** A YYYY-MM-DD string that names a real calendar date, or null. */
export function parseCalendarDate(value: unknown): CalendarDate | null {
  if (typeof value !== 'string') return null;
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return null;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  return { year, month, day };
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * Whole years from `birth` to `today`. Someone born on 29 February turns a year older on
 * 1 March in common years (their birthday has not happened on 28 February). null when `today` is
 * before the birth.
 */
export function ageOn(birth: CalendarDate, today: CalendarDate): number | null {
  let years = today.year - birth.year;
  if (today.month < birth.month || (today.month === birth.month && today.day < birth.day)) years -= 1;
  return years < 0 ? null : years;
}

// Building an Intl.DateTimeFormat costs far more than using one: one pair per zone, kept in a
// bounded LRU. The zones come from Cliniko records, so the cache only holds zones Intl accepted
// (a refused zone throws before it is stored), and at most MAX_CACHED_ZONES of them.
export const MAX_CACHED_ZONES = 500;
const formatters = new LRUCache<string, { date: Intl.DateTimeFormat; instant: Intl.DateTimeFormat }>({ max: MAX_CACHED_ZONES });

/** How many zones have formatters cached (tests). */
export function cachedZoneCount(): number {
  return formatters.size;
}

function formattersFor(timeZone: string): { date: Intl.DateTimeFormat; instant: Intl.DateTimeFormat } {
  let cached = formatters.get(timeZone);
  if (cached === undefined) {
    cached = {
      date: new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }),
      instant: new Intl.DateTimeFormat('en-GB', { timeZone, year: 'numeric', month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }),
    };
    formatters.set(timeZone, cached);
  }
  return cached;
}

/** True for zones Intl knows (IANA names such as Australia/Melbourne, and UTC). */
export function isKnownTimeZone(zone: unknown): zone is string {
  if (typeof zone !== 'string' || zone === '' || zone.length > 64) return false;
  if (formatters.has(zone)) return true;
  try {
    formattersFor(zone);
    return true;
  } catch {
    return false;
  }
}

/** The calendar date at instant `now` in `timeZone`. */
export function dateIn(timeZone: string, now: Date): CalendarDate {
  const parts = formattersFor(timeZone).date.formatToParts(now);
  const part = (type: string): number => Number(parts.find((p) => p.type === type)?.value);
  return { year: part('year'), month: part('month'), day: part('day') };
}

export function formatCalendarDate(date: CalendarDate): string {
  return `${date.day} ${MONTHS[date.month - 1]} ${date.year}`;
}

/** e.g. "24 Nov 2026, 18:09 (Australia/Melbourne)". */
export function formatInstant(at: Date, timeZone: string): string {
  const parts = formattersFor(timeZone).instant.formatToParts(at);
  const part = (type: string): string => parts.find((p) => p.type === type)?.value ?? '';
  return `${Number(part('day'))} ${MONTHS[Number(part('month')) - 1]} ${part('year')}, ${part('hour')}:${part('minute')} (${timeZone})`;
}

/** A custom field's value as text: Cliniko sends strings, numbers, booleans and lists. */
export function displayValue(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return value.map(displayValue).filter((v) => v !== '').join(', ');
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    // Option-like objects ({ name, value, selected }) read best by their name.
    if (typeof record.name === 'string') return record.selected === false ? '' : record.name;
    if ('value' in record) return displayValue(record.value);
    return JSON.stringify(value);
  }
  return '';
}

/** What staff read when Cliniko could not be asked or did not answer well. */
export const SYNC_FAILURE_TEXT: Readonly<Record<SyncFailureKind, string>> = {
  unauthorized: 'Cliniko refused Sidechart’s API key (the key is wrong or revoked, or belongs to another Cliniko shard). An administrator needs to connect Cliniko again.',
  forbidden: 'Cliniko did not allow Sidechart’s API key to read this patient (check the role of the Cliniko user who created the key).',
  not_found: 'Cliniko no longer has this patient (it may have been deleted in Cliniko).',
  rate_limited: 'Cliniko is limiting requests from Sidechart right now (too many in the last minute).',
  unavailable: 'Cliniko is not answering properly right now (network or server error).',
  timeout: 'Cliniko did not answer in time.',
  bad_response: 'Cliniko sent an answer Sidechart could not read.',
  invalid_key: 'The stored Cliniko API key is not valid. An administrator needs to connect Cliniko again.',
  key_unreadable: 'Sidechart cannot read the stored Cliniko API key (its encryption key is no longer configured). An administrator needs to connect Cliniko again.',
  internal: 'Sidechart could not store the record from Cliniko.',
};

export function syncFailureText(kind: string): string {
  return (SYNC_FAILURE_TEXT as Record<string, string | undefined>)[kind] ?? 'The last refresh from Cliniko failed.';
}

export interface SyncBanner {
  /** `warning` for a refresh problem, `info` for a refresh under way. */
  tone: 'warning' | 'info';
  text: string;
}

/** The banner over the record, or null when it is current. */
export function syncBanner(sync: SyncState): SyncBanner | null {
  switch (sync.state) {
    case 'fresh':
    case 'fetched':
      return null;
    case 'refreshing':
      return { tone: 'info', text: 'Cliniko is slow to answer: this is what Sidechart holds. A refresh is under way; reload in a moment to see it.' };
    case 'not_connected':
      return { tone: 'warning', text: 'Cliniko is not connected for this clinic, so this record cannot be refreshed. An administrator can connect it.' };
    case 'refresh_failed':
      return { tone: 'warning', text: `Could not refresh from Cliniko: ${syncFailureText(sync.kind)} Showing what Sidechart holds.` };
    case 'read_only':
      return { tone: 'info', text: 'Not refreshed from Cliniko, because this clinic is read-only for a few minutes while it is being moved: this is what Sidechart holds.' };
  }
}

export interface PatientPageModel {
  id: string;
  fullName: string;
  title: string;
  preferredName: string;
  dateOfBirth: string;
  age: number | null;
  timeZone: string;
  sex: string;
  genderIdentity: string;
  pronouns: string;
  email: string;
  phones: { type: string; number: string }[];
  address: string[];
  medicare: string;
  medicareReference: string;
  occupation: string;
  emergencyContact: string;
  customSections: { name: string; fields: { name: string; value: string }[] }[];
  archivedAt: string | null;
  deletedAt: string | null;
  lastSynced: string | null;
  clinikoUpdated: string | null;
}

function str(value: unknown): string {
  return typeof value === 'string' ? value.trim() : typeof value === 'number' ? String(value) : '';
}

function instant(value: Date | null, zone: string): string | null {
  return value === null ? null : formatInstant(value, zone);
}

/** The zone for ages and times on this record's page. */
export function displayZone(record: ClinikoPatient): string {
  return isKnownTimeZone(record.time_zone) ? record.time_zone : 'UTC';
}

export function patientPageModel(row: PatientRow, now: Date): PatientPageModel {
  const record = (typeof row.data === 'object' && row.data !== null ? row.data : {}) as ClinikoPatient;
  const zone = displayZone(record);
  const birth = parseCalendarDate(record.date_of_birth);
  const first = str(record.first_name);
  const last = str(record.last_name);
  const fullName = [first, last].filter(Boolean).join(' ') || str(record.label) || `Patient ${row.cliniko_id}`;
  const pronouns = record.pronouns;
  return {
    id: row.cliniko_id,
    fullName,
    title: str(record.title),
    preferredName: str(record.preferred_first_name),
    dateOfBirth: birth ? formatCalendarDate(birth) : str(record.date_of_birth),
    age: birth ? ageOn(birth, dateIn(zone, now)) : null,
    timeZone: zone,
    sex: str(record.sex),
    genderIdentity: str(record.gender_identity),
    pronouns: typeof pronouns === 'object' && pronouns !== null ? displayValue(Object.values(pronouns)) : displayValue(pronouns),
    email: str(record.email),
    phones: (Array.isArray(record.patient_phone_numbers) ? record.patient_phone_numbers : [])
      .map((phone) => ({ type: str(phone?.phone_type) || 'Phone', number: str(phone?.number) }))
      .filter((phone) => phone.number !== ''),
    address: [
      str(record.address_1),
      str(record.address_2),
      str(record.address_3),
      [str(record.city), str(record.state), str(record.post_code)].filter(Boolean).join(' '),
      str(record.country_code),
    ].filter(Boolean),
    medicare: str(record.medicare),
    medicareReference: str(record.medicare_reference_number),
    occupation: str(record.occupation),
    emergencyContact: str(record.emergency_contact),
    customSections: (Array.isArray(record.custom_fields?.sections) ? record.custom_fields.sections : [])
      .filter((section) => section && section.archived !== true)
      .map((section) => ({
        name: str(section.name),
        fields: (Array.isArray(section.fields) ? section.fields : []).map((field) => ({ name: str(field?.name), value: displayValue(field?.value) })),
      }))
      .filter((section) => section.fields.length > 0),
    archivedAt: instant(row.archived_at, zone),
    deletedAt: instant(row.deleted_at, zone),
    lastSynced: instant(row.fetched_at, zone),
    clinikoUpdated: instant(row.cliniko_updated_at, zone),
  };
}

export interface NoteView {
  author: string;
  at: string;
  isoAt: string;
  text: string;
}

export function noteViews(notes: readonly NoteRow[], zone: string): NoteView[] {
  return notes.map((note) => ({ author: note.author_name, at: formatInstant(note.created_at, zone), isoAt: note.created_at.toISOString(), text: note.body }));
}
