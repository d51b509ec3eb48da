// Planting audit events directly (the trail is insert-only, which is all this does), with exact
// times down to the microsecond, and reading what the admin pages show.
import { sql } from 'kysely';
import type { AuditAction } from '../../src/patients/tables.ts';
import type { TenantDb } from '../../src/tenancy/tenant-database.ts';

export interface PlantedEvent {
  at: string;
  action?: AuditAction;
  userId?: string | null;
  patientId?: string | null;
  userAgent?: string | null;
  referrer?: string | null;
  detail?: string | null;
}

export async function plant(db: TenantDb, events: PlantedEvent[]): Promise<string[]> {
  if (events.length === 0) return [];
  const rows = await db
    .insertInto('audit_events')
    .values(
      events.map((e) => ({
        occurred_at: sql<Date>`${e.at}::timestamptz`,
        action: e.action ?? 'view',
        outcome: 'shown',
        user_id: e.userId ?? null,
        patient_id: e.patientId ?? null,
        detail: e.detail ?? null,
        client_ip: '127.0.0.1',
        user_agent: e.userAgent ?? null,
        sec_fetch_site: null,
        referrer: e.referrer ?? null,
      })),
    )
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

/** The event ids of an audit page, in the order shown. */
export function eventIds(html: string): string[] {
  return [...html.matchAll(/<tr data-event-id="([0-9]+)">/g)].map((m) => m[1]!);
}

/** The "Older events" link of an audit page, or null. */
export function olderHref(html: string): string | null {
  const href = /<a href="([^"]+)" rel="next" id="older">/.exec(html)?.[1];
  return href === undefined ? null : href.replaceAll('&amp;', '&');
}

/** A CSV text parsed the RFC 4180 way (quotes doubled inside quoted fields), BOM dropped. */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  const input = text.replace(/^\uFEFF/, '');
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (quoted) {
      if (c === '"' && input[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') record.push(field), (field = '');
    else if (c === '\r' && input[i + 1] === '\n') {
      record.push(field), records.push(record), (record = []), (field = ''), i++;
    } else field += c;
  }
  if (field !== '' || record.length > 0) record.push(field), records.push(record);
  return records;
}
