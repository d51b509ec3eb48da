// The audit page's filters, as the query string carries them (the page's form and its CSV link):
// their TypeBox schema (the route declares it), the words a person reads for each problem, and the
// translation into the trail's query (patients/audit.ts). Pure: no request, no database.
import { Type, type Static } from '@fastify/type-provider-typebox';
import { PATIENT_ID_MAX, parsePatientId } from '../patients/patient-id.ts';
import { parseCalendarDate } from '../patients/view-model.ts';
import type { AuditCursor, AuditFilter } from '../patients/audit.ts';
import type { AuditAction } from '../patients/tables.ts';

/** What each action is called on the page and in the filter. Adding an action means naming it here. */
export const ACTION_LABELS: Record<AuditAction, string> = {
  view: 'Patient viewed',
  denied: 'Access refused',
  note_added: 'Note added',
  audit_viewed: 'Audit trail viewed',
  audit_exported: 'Audit trail exported',
  staff_invited: 'Staff invited',
  invitation_revoked: 'Invitation revoked',
  invitation_accepted: 'Invitation accepted',
  staff_role_changed: 'Staff role changed',
  staff_disabled: 'Staff disabled',
  staff_enabled: 'Staff enabled',
  staff_removed: 'Staff removed',
  cliniko_connected: 'Cliniko connected',
  cliniko_disconnected: 'Cliniko disconnected',
  clinic_created: 'Clinic created',
  sign_in_settings_changed: 'Sign-in settings changed',
};

export const AUDIT_ACTIONS = Object.keys(ACTION_LABELS) as AuditAction[];

// An empty field is what a form sends for "any": each pattern accepts ''.
const USER_ID = '^([1-9][0-9]{0,18})?$';
const DATE = '^([0-9]{4}-[0-9]{2}-[0-9]{2})?$';
/** `<UTC time with microseconds>_<event id>`: readable, and checked before it reaches SQL. */
const CURSOR = '^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\\.[0-9]{6}Z_[1-9][0-9]{0,18}$';

export const AuditFilterQuery = Type.Object(
  {
    user: Type.Optional(Type.String({ pattern: USER_ID })),
    // The button's own rules (patient-id.ts) say what is wrong with a patient ID.
    patient_id: Type.Optional(Type.String({ maxLength: 64 })),
    action: Type.Optional(Type.Enum(['', ...AUDIT_ACTIONS])),
    from: Type.Optional(Type.String({ pattern: DATE })),
    to: Type.Optional(Type.String({ pattern: DATE })),
    after: Type.Optional(Type.String({ pattern: CURSOR })),
  },
  { additionalProperties: false },
);

export type AuditFilterInput = Static<typeof AuditFilterQuery>;
export type AuditFilterField = keyof AuditFilterInput;

/** What a person is told for a value of the wrong shape, next to the field. */
export const FIELD_PROBLEMS: Record<AuditFilterField, string> = {
  user: 'Choose a user from the list.',
  patient_id: 'A patient ID is the number Cliniko shows for the patient, digits only.',
  action: 'Choose an action from the list.',
  from: 'Enter the first day as a date, e.g. 2026-11-24.',
  to: 'Enter the last day as a date, e.g. 2026-11-24.',
  after: 'This page link is damaged. Start again from the newest events.',
};

export const FIELD_LABELS: Record<AuditFilterField, string> = {
  user: 'User',
  patient_id: 'Patient ID',
  action: 'Action',
  from: 'From',
  to: 'To',
  after: 'Page',
};

export interface FilterProblem {
  field: AuditFilterField;
  message: string;
}

export type FilterResult = { ok: true; filter: AuditFilter; after: AuditCursor | null } | { ok: false; problem: FilterProblem };

const DAY_MS = 86_400_000;

function isField(name: string): name is AuditFilterField {
  return Object.hasOwn(FIELD_PROBLEMS, name);
}

/**
 * The field a schema validation error (Fastify's `request.validationError`) is about, with its
 * message; the first field with a problem when the error names none (it always names one here).
 */
export function problemFromValidation(error: { validation?: ReadonlyArray<{ instancePath?: string; params?: unknown }> }): FilterProblem {
  for (const item of error.validation ?? []) {
    const name = (item.instancePath ?? '').split('/')[1] ?? '';
    if (isField(name)) return { field: name, message: FIELD_PROBLEMS[name] };
  }
  return { field: 'after', message: FIELD_PROBLEMS.after };
}

/** A bigint key as the patterns allow it (up to 19 digits), within bigint's range. */
function isBigint(value: string): boolean {
  // Same length and digits only: string order is numeric order.
  return value.length < PATIENT_ID_MAX.length || value <= PATIENT_ID_MAX;
}

function utcDay(value: string | undefined): Date | null | undefined {
  if (value === undefined || value === '') return undefined;
  const day = parseCalendarDate(value);
  return day === null ? null : new Date(Date.UTC(day.year, day.month - 1, day.day));
}

/**
 * A query of the right shape (the route's schema checked it) as the trail's filter: the checks a
 * pattern cannot make (real calendar days, a patient ID in range, the order of the two dates).
 * Dates are whole UTC days; `to` includes its day.
 */
export function auditFilterFrom(input: AuditFilterInput): FilterResult {
  const filter: AuditFilter = {};
  if (input.user) filter.userId = input.user;
  if (input.patient_id) {
    const parsed = parsePatientId({ patient_id: input.patient_id });
    // The button's reasons ("patient_id must not start with 0"), said of the field.
    if (!parsed.ok) return { ok: false, problem: { field: 'patient_id', message: `${parsed.reason.replace(/^patient_id /, 'The patient ID ')}.` } };
    filter.patientId = parsed.id;
  }
  if (input.action) filter.action = input.action;
  const from = utcDay(input.from);
  if (from === null) return { ok: false, problem: { field: 'from', message: `${input.from} is not a day of the calendar.` } };
  const to = utcDay(input.to);
  if (to === null) return { ok: false, problem: { field: 'to', message: `${input.to} is not a day of the calendar.` } };
  if (from && to && from > to) return { ok: false, problem: { field: 'to', message: 'The last day is before the first day.' } };
  if (from) filter.since = from;
  if (to) filter.until = new Date(to.getTime() + DAY_MS);
  let after: AuditCursor | null = null;
  if (input.after) {
    const cut = input.after.lastIndexOf('_');
    after = { occurredAt: input.after.slice(0, cut), id: input.after.slice(cut + 1) };
    if (!isBigint(after.id) || parseCalendarDate(after.occurredAt.slice(0, 10)) === null) {
      return { ok: false, problem: { field: 'after', message: FIELD_PROBLEMS.after } };
    }
  }
  if (filter.userId !== undefined && !isBigint(filter.userId)) {
    return { ok: false, problem: { field: 'user', message: FIELD_PROBLEMS.user } };
  }
  return { ok: true, filter, after };
}

export function cursorParam(cursor: AuditCursor): string {
  return `${cursor.occurredAt}_${cursor.id}`;
}

/** The filter fields as a query string (for the CSV link and the next page), empty ones left out. */
export function filterQueryString(input: AuditFilterInput, extra: Partial<Record<AuditFilterField, string>> = {}): string {
  const params = new URLSearchParams();
  for (const field of ['user', 'patient_id', 'action', 'from', 'to'] as const) {
    const value = input[field];
    if (value) params.set(field, value);
  }
  for (const [field, value] of Object.entries(extra)) if (value) params.set(field, value);
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}
