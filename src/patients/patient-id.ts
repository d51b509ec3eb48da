// The `patient_id` of `GET /patients?patient_id=...`, as Cliniko's button sends it. Cliniko IDs are
// signed 64-bit integers, above 2^53 in practice, so the ID stays a string from the query to the
// database and the API: it is never turned into a Number, and the range check compares strings.

export const PATIENT_ID_MAX = '9223372036854775807'; // 2^63 - 1

export type PatientIdResult = { ok: true; id: string } | { ok: false; reason: string };

/**
 * Reads `patient_id` from a parsed querystring (Fastify's `request.query`). Accepts exactly one
 * value that is the canonical decimal form of an integer in [1, 2^63 - 1]. Never throws; the reason
 * is a short message fit for a 400 page.
 */
export function parsePatientId(query: unknown): PatientIdResult {
  const value = readParameter(query);
  if (value === undefined) return fail('patient_id is missing');
  // Fastify's querystring parser turns a repeated parameter into an array; which one would we show?
  if (Array.isArray(value)) {
    return fail(value.length > 1 ? 'patient_id was given more than once' : 'patient_id must be a single value');
  }
  if (typeof value !== 'string') return fail('patient_id must be digits only');
  if (value === '') return fail('patient_id is empty');
  if (!/^[0-9]+$/.test(value)) return fail('patient_id must be digits only');
  if (value === '0') return fail('patient_id is out of range');
  if (value.startsWith('0')) return fail('patient_id must not start with 0');
  // Same length and digits only: string order is numeric order.
  if (value.length > PATIENT_ID_MAX.length || (value.length === PATIENT_ID_MAX.length && value > PATIENT_ID_MAX)) {
    return fail('patient_id is out of range');
  }
  return { ok: true, id: value };
}

function readParameter(query: unknown): unknown {
  if (typeof query !== 'object' || query === null || Array.isArray(query)) return undefined;
  // Own properties only: Fastify's query object has a null prototype, but a plain one would
  // otherwise answer for anything on Object.prototype.
  return Object.hasOwn(query, 'patient_id') ? (query as Record<string, unknown>)['patient_id'] : undefined;
}

function fail(reason: string): PatientIdResult {
  return { ok: false, reason };
}
