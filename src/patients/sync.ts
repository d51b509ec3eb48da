// When the patient page asks Cliniko, and what it shows when Cliniko does not answer well.
//
// The clinic's `patients` table holds the last Cliniko record of each patient opened (the whole
// JSON, the page's columns, when it was fetched, and the last refresh failure). For one view:
// - held and fresh (fetched less than PATIENT_FRESH_SECONDS ago): no call to Cliniko at all;
// - not held: fetched on the spot, waiting up to PATIENT_FETCH_BUDGET_MS;
// - held but stale: refreshed in the request, waiting only PATIENT_REFRESH_BUDGET_MS (~300 ms).
//   Cliniko usually answers within that, and then the page is current. If it does not, the page is
//   served at once from what is held, saying that a refresh is under way, and the refresh carries
//   on in the background until PATIENT_SYNC_DEADLINE_MS, then stores the record (or the failure).
//   Staff never wait long for a record Sidechart already has, and a slow Cliniko still ends up
//   refreshing it. The background work is handed the clinic's scoped handle explicitly; nothing
//   ambient carries a tenant. The same applies to a first fetch that runs out of budget: the page
//   says so, and the record is there on the next click.
// - a failed refresh is remembered on the row (kind and time); for PATIENT_SYNC_RETRY_SECONDS the
//   page shows the held record and the failure without asking Cliniko again, so a Cliniko outage
//   or a refused key does not cost every click a timeout, nor add load to a rate limit.
// - merged in Cliniko: the surviving record (from `merged_with_patient.links.self`) is shown, and
//   the page says which record was merged into it. Only the ID is taken from that link: the record
//   is fetched from the configured API base, never from a host named in a response.
// - archived (or deleted) in Cliniko: shown, marked as such.
// - a read-only clinic (moving between regions, tenancy/read-only.ts): nothing is asked of Cliniko,
//   since nothing could be stored; a stale held record is shown as it is, one not held is refused.
// Concurrent views of one patient share one refresh (and so one upstream call and one write),
// including views that checked the table just before the refresh stored its result; the client
// coalesces per API key as well. Failures never remove or overwrite what is held.
import type { FastifyBaseLogger } from 'fastify';
import type { Selectable } from 'kysely';
import type { Config } from '../config.ts';
import type { SecretBox } from '../infra/crypto.ts';
import type { ClinikoClient } from '../cliniko/client/client.ts';
import { isClinikoError, type ClinikoErrorKind } from '../cliniko/client/errors.ts';
import { loadClinikoCredentials } from '../cliniko/connection.ts';
import type { ClinicScope } from '../tenancy/clinic.ts';
import type { TenantDb } from '../tenancy/tenant-database.ts';
import { reusableQuery } from '../infra/db.ts';
import type { ClinikoPatient } from '../cliniko/types.ts';
import { parsePatientId } from './patient-id.ts';
import { notesFromJson, notesOfPatientJson, type NoteRow } from './notes.ts';
import { PATIENT_COLUMNS, type PatientsTable } from './tables.ts';

/** A held patient; `notes` is set when they were read with the row (see findPatient). */
export type PatientRow = Selectable<PatientsTable> & { notes?: NoteRow[] };

/** Why a refresh failed: Cliniko's error kinds, plus ours. */
export type SyncFailureKind = ClinikoErrorKind | 'key_unreadable' | 'internal';

/** How the record on the page relates to Cliniko right now. */
export type SyncState =
  | { state: 'fresh' }
  | { state: 'fetched' }
  | { state: 'refreshing' }
  | { state: 'refresh_failed'; kind: SyncFailureKind }
  | { state: 'not_connected' }
  /** Held and not refreshed: the clinic is read-only (tenancy/read-only.ts), so nothing is stored. */
  | { state: 'read_only' };

export interface FoundPatient {
  patient: PatientRow;
  sync: SyncState;
}

export type PatientLookup =
  | {
      kind: 'found';
      patient: PatientRow;
      sync: SyncState;
      /** Records merged (in Cliniko) into the one shown, in the order they were followed. */
      mergedFrom: PatientRow[];
      /** Set when a merged record's survivor could not be loaded: the merged record is shown. */
      survivorProblem: SyncFailureKind | 'not_found' | 'not_connected' | 'read_only' | null;
    }
  | { kind: 'not_found' }
  /** Not held, and the clinic is read-only: fetching it would store it. */
  | { kind: 'read_only' }
  | { kind: 'not_connected' }
  | { kind: 'unavailable'; failure: SyncFailureKind; stillTrying: boolean };

export type PatientSettings = Config['patients'];

export interface PatientSyncDeps {
  client: ClinikoClient;
  box: SecretBox;
  settings: PatientSettings;
  now?: () => number;
}

/** The clinic worked for, with the logger of the request it works for (background work logs there too). */
type Work = ClinicScope & { log: FastifyBaseLogger };

type RefreshOutcome = { ok: true; row: PatientRow } | { ok: false; kind: SyncFailureKind };

const MAX_MERGE_HOPS = 3;
const JUST_FETCHED_MAX_MS = 30_000;
const TIMED_OUT = Symbol('timed out');

export type PatientSync = ReturnType<typeof createPatientSync>;

export function createPatientSync(deps: PatientSyncDeps) {
  const { client, box, settings } = deps;
  const now = deps.now ?? Date.now;
  /** Refreshes in flight, by clinic schema and patient: concurrent views share one. */
  const inflight = new Map<string, Promise<RefreshOutcome>>();
  /** Refreshes that succeeded moments ago (see refresh). */
  const justFetched = new Map<string, { outcome: Promise<RefreshOutcome> }>();

  function isFresh(row: PatientRow): boolean {
    return row.fetched_at !== null && now() - row.fetched_at.getTime() < settings.freshSeconds * 1000;
  }

  function failedRecently(row: PatientRow): boolean {
    return (
      row.sync_error !== null &&
      row.sync_attempted_at !== null &&
      now() - row.sync_attempted_at.getTime() < settings.retryAfterFailureSeconds * 1000
    );
  }

  /** Fetches the patient with the clinic's key and stores it; never rejects. */
  function refresh(scope: Work, apiKey: string, id: string): Promise<RefreshOutcome> {
    const key = `${scope.schemaName}/${id}`;
    const running = inflight.get(key) ?? justFetched.get(key)?.outcome;
    if (running) return running;
    const work = (async (): Promise<RefreshOutcome> => {
      let kind: SyncFailureKind;
      let message: string;
      try {
        const record = await client.getPatient(apiKey, id, { deadlineMs: settings.syncDeadlineMs });
        return { ok: true, row: await savePatient(scope, record, new Date(now())) };
      } catch (error) {
        if (isClinikoError(error)) {
          kind = error.kind;
          message = error.message;
          // The message never holds the key (errors.ts) and tells, say, an unreadable answer from one too large.
          scope.log.warn({ event: 'patient_refresh_failed', kind, reason: message, upstreamStatus: error.upstreamStatus, patientId: id }, 'Cliniko refresh failed');
        } else {
          kind = 'internal';
          message = 'Sidechart could not store the record from Cliniko.';
          scope.log.error({ err: error, patientId: id }, 'patient refresh failed');
        }
      }
      await recordFailure(scope, id, kind, message).catch((error: unknown) =>
        scope.log.error({ err: error, patientId: id }, 'could not record a refresh failure'),
      );
      return { ok: false, kind };
    })();
    inflight.set(key, work);
    void work.then((outcome) => {
      inflight.delete(key);
      // A view that read "not held" (or "stale") just before this refresh stored the record, and
      // asks only now, gets this result instead of a second upstream call: it is fresh.
      const keepMs = Math.min(settings.freshSeconds * 1000, JUST_FETCHED_MAX_MS);
      if (!outcome.ok || keepMs <= 0) return;
      const entry = { outcome: work };
      justFetched.set(key, entry);
      setTimeout(() => {
        if (justFetched.get(key) === entry) justFetched.delete(key);
      }, keepMs).unref();
    });
    return work;
  }

  type Step = ({ kind: 'found' } & FoundPatient) | Exclude<PatientLookup, { kind: 'found' }>;

  /** One record: held, fetched or refreshed, according to the policy above. */
  async function obtain(scope: Work, id: string, budgetMs: number, readOnly: boolean): Promise<Step> {
    const held = await findPatient(scope, id);
    if (held && isFresh(held)) return { kind: 'found', patient: held, sync: { state: 'fresh' } };
    // No Cliniko call at all: its answer could not be stored (nor a failure recorded).
    if (readOnly) return held ? { kind: 'found', patient: held, sync: { state: 'read_only' } } : { kind: 'read_only' };
    if (held && failedRecently(held)) {
      return { kind: 'found', patient: held, sync: { state: 'refresh_failed', kind: held.sync_error as SyncFailureKind } };
    }
    const credentials = await loadClinikoCredentials(scope, box, scope.log);
    if (credentials.status === 'not_connected') {
      return held ? { kind: 'found', patient: held, sync: { state: 'not_connected' } } : { kind: 'not_connected' };
    }
    if (credentials.status === 'unreadable') {
      return held
        ? { kind: 'found', patient: held, sync: { state: 'refresh_failed', kind: 'key_unreadable' } }
        : { kind: 'unavailable', failure: 'key_unreadable', stillTrying: false };
    }
    const wait = Math.max(0, held ? Math.min(settings.refreshBudgetMs, budgetMs) : budgetMs);
    const outcome = await within(refresh(scope, credentials.apiKey, id), wait);
    if (outcome === TIMED_OUT) {
      return held
        ? { kind: 'found', patient: held, sync: { state: 'refreshing' } }
        : { kind: 'unavailable', failure: 'timeout', stillTrying: true };
    }
    if (outcome.ok) return { kind: 'found', patient: outcome.row, sync: { state: 'fetched' } };
    if (!held) {
      return outcome.kind === 'not_found' ? { kind: 'not_found' } : { kind: 'unavailable', failure: outcome.kind, stillTrying: false };
    }
    return { kind: 'found', patient: held, sync: { state: 'refresh_failed', kind: outcome.kind } };
  }

  return {
    /**
     * The patient to show for this Cliniko ID, following merges to the surviving record. The
     * whole lookup, merges included, stays within the fetch budget. While the clinic is read-only
     * only what is held is shown, and nothing is asked of Cliniko.
     */
    async lookup(clinic: ClinicScope, patientId: string, log: FastifyBaseLogger, options: { readOnly?: boolean } = {}): Promise<PatientLookup> {
      const scope: Work = { db: clinic.db, schemaName: clinic.schemaName, log };
      const started = now();
      const followed: FoundPatient[] = [];
      let id = patientId;
      for (;;) {
        const step = await obtain(scope, id, settings.fetchBudgetMs - (now() - started), options.readOnly === true);
        if (step.kind !== 'found') {
          const merged = followed.pop();
          if (merged === undefined) return step;
          const problem = step.kind === 'unavailable' ? step.failure : step.kind;
          return { kind: 'found', ...merged, mergedFrom: followed.map((f) => f.patient), survivorProblem: problem };
        }
        const next = step.patient.merged_into_id;
        const loops = next === id || followed.some((f) => f.patient.cliniko_id === next);
        if (next === null || loops || followed.length >= MAX_MERGE_HOPS) {
          return { kind: 'found', patient: step.patient, sync: step.sync, mergedFrom: followed.map((f) => f.patient), survivorProblem: null };
        }
        followed.push({ patient: step.patient, sync: step.sync });
        id = next;
      }
    },

    /** Resolves when no refresh is running (shutdown, and tests that wait for background work). */
    async idle(): Promise<void> {
      while (inflight.size > 0) await Promise.allSettled([...inflight.values()]);
    },
  };
}

/** The record and its notes by Cliniko ID, compiled once per clinic (infra/db.ts reusableQuery). */
const patientWithNotes = reusableQuery((db: TenantDb, id: string) =>
  db
    .selectFrom('patients as p')
    .select(PATIENT_COLUMNS.map((column) => `p.${column}` as const))
    .select((eb) => notesOfPatientJson(eb).as('notes'))
    .where('p.cliniko_id', '=', id),
);

/** The held record with its Sidechart notes (one query: this is every view's common path). */
export async function findPatient(scope: ClinicScope, id: string): Promise<PatientRow | undefined> {
  const [row] = await patientWithNotes(scope.db, id);
  return row === undefined ? undefined : { ...row, notes: notesFromJson(row.notes) };
}

/** Stores a record as Cliniko sent it (keyed by its own ID), clearing any refresh failure. */
export async function savePatient(scope: ClinicScope, record: ClinikoPatient, fetchedAt: Date): Promise<PatientRow> {
  const values = {
    ...patientColumns(record),
    data: JSON.stringify(record),
    fetched_at: fetchedAt,
    sync_attempted_at: fetchedAt,
    sync_error: null,
    sync_error_message: null,
    updated_at: fetchedAt,
  };
  return scope.db
    .insertInto('patients')
    .values({ cliniko_id: record.id, ...values })
    .onConflict((oc) => oc.column('cliniko_id').doUpdateSet(values))
    .returningAll()
    .executeTakeFirstOrThrow();
}

async function recordFailure(scope: ClinicScope, id: string, kind: SyncFailureKind, message: string): Promise<void> {
  const at = new Date();
  await scope.db
    .updateTable('patients')
    .set({ sync_attempted_at: at, sync_error: kind, sync_error_message: message, updated_at: at })
    .where('cliniko_id', '=', id)
    .execute();
}

/** The columns the page and lists use, from a Cliniko record. */
export function patientColumns(record: ClinikoPatient) {
  return {
    first_name: text(record.first_name) ?? '',
    last_name: text(record.last_name) ?? '',
    preferred_first_name: text(record.preferred_first_name),
    date_of_birth: typeof record.date_of_birth === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(record.date_of_birth) ? record.date_of_birth : null,
    archived_at: time(record.archived_at),
    deleted_at: time(record.deleted_at),
    merged_at: time(record.merged_at),
    merged_into_id: mergedIntoId(record),
    cliniko_updated_at: time(record.updated_at),
  };
}

/** The surviving patient's ID from `merged_with_patient.links.self` (…/patients/<id>), or null. */
export function mergedIntoId(record: ClinikoPatient): string | null {
  const self = record.merged_with_patient?.links?.self;
  if (typeof self !== 'string') return null;
  let path: string;
  try {
    path = new URL(self).pathname;
  } catch {
    return null;
  }
  const match = /\/patients\/([0-9]+)\/?$/.exec(path);
  if (!match) return null;
  const parsed = parsePatientId({ patient_id: match[1] });
  return parsed.ok && parsed.id !== record.id ? parsed.id : null;
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value : null;
}

/** Cliniko sends UTC ISO 8601 times; old API versions sent "" for "never". */
function time(value: unknown): Date | null {
  if (typeof value !== 'string' || value === '') return null;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : new Date(at);
}

/** The promise's value, or TIMED_OUT after `ms` (the promise itself carries on). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
