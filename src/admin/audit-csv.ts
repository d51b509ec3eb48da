// The audit trail as CSV, streamed: csv-stringify writes the records (RFC 4180 quoting of commas,
// quotes and line breaks; `escape_formulas` puts a ' before a cell that starts with =, +, -, @, a
// tab or a carriage return, so a user agent or referrer planted as a formula stays text in a
// spreadsheet), fed page by page from the trail's one query (keyset, so memory stays bounded and
// no event is read twice however long the trail).
import { Readable, pipeline } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { stringify } from 'csv-stringify';
import { auditPage, type AuditFilter, type AuditPage, type PositionedAuditEvent } from '../patients/audit.ts';
import type { TenantDb } from '../tenancy/tenant-database.ts';

/** Events read per query while streaming. */
export const CSV_BATCH = 500;

/** Columns, in order, with the header each gets. */
export const CSV_COLUMNS = [
  { key: 'occurred_at', header: 'occurred_at_utc' },
  { key: 'user_id', header: 'user_id' },
  { key: 'user_email', header: 'user_email' },
  { key: 'action', header: 'action' },
  { key: 'outcome', header: 'outcome' },
  { key: 'patient_id', header: 'patient_id' },
  { key: 'client_ip', header: 'client_ip' },
  { key: 'user_agent', header: 'user_agent' },
  { key: 'sec_fetch_site', header: 'sec_fetch_site' },
  { key: 'referrer', header: 'referrer' },
  { key: 'detail', header: 'detail' },
  { key: 'request_id', header: 'request_id' },
  { key: 'event_id', header: 'event_id' },
] as const;

type CsvRecord = Record<(typeof CSV_COLUMNS)[number]['key'], string | null>;

function csvRecord(event: PositionedAuditEvent): CsvRecord {
  return {
    occurred_at: event.position_at,
    user_id: event.user_id,
    user_email: event.user_email,
    action: event.action,
    outcome: event.outcome,
    patient_id: event.patient_id,
    client_ip: event.client_ip,
    user_agent: event.user_agent,
    sec_fetch_site: event.sec_fetch_site,
    referrer: event.referrer,
    detail: event.detail,
    request_id: event.request_id,
    event_id: event.id,
  };
}

async function* records(db: TenantDb, filter: AuditFilter, first: AuditPage): AsyncGenerator<CsvRecord> {
  let page = first;
  for (;;) {
    for (const event of page.events) yield csvRecord(event);
    if (page.next === null) return;
    page = await auditPage(db, { ...filter, after: page.next, limit: CSV_BATCH });
  }
}

export function csvFileName(slug: string, now: Date): string {
  return `${slug}-audit-${now.toISOString().slice(0, 10)}.csv`;
}

export interface AuditCsvSource {
  db: TenantDb;
  filter: AuditFilter;
  /** The first batch (`auditPage` with CSV_BATCH), read by the caller before it answers. */
  first: AuditPage;
  log: FastifyBaseLogger;
}

/** The export as a readable stream of CSV text (UTF-8 with a byte-order mark, for spreadsheets). */
export function auditCsv({ db, filter, first, log }: AuditCsvSource): Readable {
  const csv = stringify({
    header: true,
    columns: CSV_COLUMNS.map((c) => ({ key: c.key, header: c.header })),
    escape_formulas: true,
    bom: true,
    record_delimiter: 'windows',
  });
  // A failure part-way (the database gone) ends the download early; it cannot become an error page.
  return pipeline(Readable.from(records(db, filter, first)), csv, (error) => {
    if (!error) return;
    // The browser went away (a cancelled download): nothing is wrong on our side.
    if ((error as { code?: unknown }).code === 'ERR_STREAM_PREMATURE_CLOSE') log.info({ event: 'audit_export_abandoned' }, 'audit CSV export closed by the client');
    else log.error({ err: error, event: 'audit_export_failed' }, 'audit CSV export stopped part-way');
  });
}
