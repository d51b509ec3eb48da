// The audit trail of patient access, in the clinic's own schema: every view of a patient page,
// every refused attempt, every note written. Rows are only ever inserted (a trigger refuses UPDATE,
// DELETE and TRUNCATE). A page showing a patient is sent only after its event is committed.
//
// Each event is a durable commit, and a commit waits for the disk (fsync). One commit per view
// would make the disk, not the app, the limit on how many patients can be opened per second. So
// views write through an audit writer that does group commit per clinic: the first event goes out
// at once; events that arrive while a commit is in progress are written together by the next one.
// Every caller still waits for the commit that holds its own event, so nothing is sent unaudited.
import type { FastifyRequest } from 'fastify';
import { sql, type Insertable, type Selectable } from 'kysely';
import type { ClinicScope } from '../tenancy/clinic.ts';
import type { TenantDb } from '../tenancy/tenant-database.ts';
import type { AuditAction, AuditEventsTable } from './tables.ts';

export type AuditEvent = Selectable<AuditEventsTable>;

/** An event as listed: with the user's e-mail when the user still exists. */
export type ListedAuditEvent = AuditEvent & { user_email: string | null };

/** Where a request came from, as the audit trail records it. */
export interface RequestOrigin {
  clientIp: string | null;
  userAgent: string | null;
  secFetchSite: string | null;
  referrer: string | null;
  requestId: string | null;
}

export interface AuditEntry {
  action: AuditAction;
  outcome: string;
  userId: string | null;
  patientId: string | null;
  detail?: string | null;
  origin: RequestOrigin;
}

/** Headers are client input: kept, but bounded so one request cannot bloat the trail. */
function bounded(value: string | string[] | undefined, max: number): string | null {
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined || first === '') return null;
  return first.length > max ? first.slice(0, max) : first;
}

/** The origin of a request: client address (request.ip honours only trusted proxies), headers. */
export function requestOrigin(request: FastifyRequest): RequestOrigin {
  return {
    clientIp: bounded(request.ip, 64),
    userAgent: bounded(request.headers['user-agent'], 512),
    secFetchSite: bounded(request.headers['sec-fetch-site'], 32),
    // Both spellings: the header is "Referer", the policy "Referrer".
    referrer: bounded(request.headers.referer ?? request.headers.referrer, 1024),
    requestId: bounded(request.id, 64),
  };
}

/** The row an event is stored as (headers bounded, detail cut to 500 characters). */
export function auditRow(entry: AuditEntry): Insertable<AuditEventsTable> {
  return {
    action: entry.action,
    outcome: entry.outcome,
    user_id: entry.userId,
    patient_id: entry.patientId,
    detail: entry.detail === undefined || entry.detail === null ? null : entry.detail.slice(0, 500),
    client_ip: entry.origin.clientIp,
    user_agent: entry.origin.userAgent,
    sec_fetch_site: entry.origin.secFetchSite,
    referrer: entry.origin.referrer,
    request_id: entry.origin.requestId,
  };
}

/** Stores one event. Rejects when it cannot: callers decide whether to go on without it. */
export async function recordAudit(db: TenantDb, entry: AuditEntry): Promise<void> {
  await db.insertInto('audit_events').values(auditRow(entry)).execute();
}

interface PendingEvent {
  row: Insertable<AuditEventsTable>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface ClinicQueue {
  db: TenantDb;
  waiting: PendingEvent[];
}

/** Rows per INSERT: well under PostgreSQL's 65535 bind parameters (10 per row). */
const MAX_BATCH = 1000;

export type AuditWriter = ReturnType<typeof createAuditWriter>;

/** Group commit of audit events (see the top of this file). One writer per process. */
export function createAuditWriter() {
  /** Clinics with a commit in progress, by schema; each entry carries its own scoped handle. */
  const queues = new Map<string, ClinicQueue>();

  async function drain(schemaName: string, queue: ClinicQueue): Promise<void> {
    while (queue.waiting.length > 0) {
      const batch = queue.waiting.splice(0, MAX_BATCH);
      try {
        await queue.db.insertInto('audit_events').values(batch.map((event) => event.row)).execute();
        for (const event of batch) event.resolve();
      } catch (error) {
        if (batch.length === 1) {
          batch[0]!.reject(error);
          continue;
        }
        // One bad row must not cost the others their pages: write them one by one.
        for (const event of batch) {
          await queue.db.insertInto('audit_events').values(event.row).execute().then(event.resolve, event.reject);
        }
      }
    }
    queues.delete(schemaName);
  }

  return {
    /** Resolves once the event is committed; rejects if it could not be. */
    record(scope: ClinicScope, entry: AuditEntry): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        const pending = { row: auditRow(entry), resolve, reject };
        const running = queues.get(scope.schemaName);
        if (running) {
          running.waiting.push(pending);
          return;
        }
        const queue: ClinicQueue = { db: scope.db, waiting: [pending] };
        queues.set(scope.schemaName, queue);
        void drain(scope.schemaName, queue);
      });
    },
  };
}

/** Which events: each field narrows the trail; none given means every event. */
export interface AuditFilter {
  userId?: string;
  patientId?: string;
  action?: AuditAction;
  /** At or after this instant. */
  since?: Date;
  /** Strictly before this instant. */
  until?: Date;
}

/**
 * A position in the trail (newest first) for keyset paging: the exact time of the last event seen,
 * as UTC text with microseconds (a JavaScript Date keeps milliseconds only, so a Date cursor would
 * skip or repeat events within a millisecond), and its id, which breaks ties.
 */
export interface AuditCursor {
  occurredAt: string;
  id: string;
}

export interface AuditQuery extends AuditFilter {
  /** Only events after this position, i.e. older than the last one already seen. */
  after?: AuditCursor;
  /** Newest first; at most this many. */
  limit: number;
}

/**
 * The one query over the trail, for the CLI, the admin page and the CSV export alike: the events
 * a filter selects, newest first, with the user's e-mail and each event's exact position.
 */
function auditEvents(db: TenantDb, query: AuditFilter & { after?: AuditCursor }) {
  let select = db
    .selectFrom('audit_events as a')
    .leftJoin('users as u', 'u.id', 'a.user_id')
    .selectAll('a')
    .select(['u.email as user_email', sql<string>`to_char(a.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('position_at')]);
  if (query.userId !== undefined) select = select.where('a.user_id', '=', query.userId);
  if (query.patientId !== undefined) select = select.where('a.patient_id', '=', query.patientId);
  if (query.action !== undefined) select = select.where('a.action', '=', query.action);
  if (query.since !== undefined) select = select.where('a.occurred_at', '>=', query.since);
  if (query.until !== undefined) select = select.where('a.occurred_at', '<', query.until);
  if (query.after !== undefined) {
    select = select.where(sql<boolean>`(a.occurred_at, a.id) < (${query.after.occurredAt}::timestamptz, ${query.after.id}::bigint)`);
  }
  return select.orderBy('a.occurred_at', 'desc').orderBy('a.id', 'desc');
}

/** An event with its exact position (`position_at`, UTC with microseconds). */
export type PositionedAuditEvent = ListedAuditEvent & { position_at: string };

export interface AuditPage {
  events: PositionedAuditEvent[];
  /** Where the next (older) page starts; null on the last page. */
  next: AuditCursor | null;
}

/** One page of the trail; read one more row than asked to know whether another page follows. */
export async function auditPage(db: TenantDb, query: AuditQuery): Promise<AuditPage> {
  const rows = await auditEvents(db, query).limit(query.limit + 1).execute();
  const events = rows.slice(0, query.limit);
  const last = events.at(-1);
  return { events, next: rows.length > query.limit && last ? { occurredAt: last.position_at, id: last.id } : null };
}

export async function listAudit(db: TenantDb, query: AuditQuery): Promise<ListedAuditEvent[]> {
  const rows = await auditEvents(db, query).limit(query.limit).execute();
  return rows.map(({ position_at: _position, ...event }) => event);
}
