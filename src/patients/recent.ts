// What the clinic home shows a signed-in user: the patients they (and the clinic) opened recently,
// read from the audit trail, and a search over the patients Sidechart holds, by name or Cliniko ID.
// Every query is bounded: the recent lists read at most RECENT_WINDOW view events through an index
// (audit_events (user_id, occurred_at) from migrations/tenant/0007, (occurred_at) for the clinic),
// and a search returns at most SEARCH_LIMIT rows for at most SEARCH_MAX_WORDS words.
import type { TenantDb } from '../tenancy/tenant-database.ts';
import { parsePatientId } from './patient-id.ts';

/** Most patients in each recent list. */
export const RECENT_LIMIT = 10;
/**
 * Newest view events read per list. Someone who opened one patient this many times in a row sees
 * a shorter list; the price of never reading a long-serving clinician's whole history.
 */
export const RECENT_WINDOW = 500;
/** Most rows a search shows; one more is read to know whether there are more. */
export const SEARCH_LIMIT = 20;
export const SEARCH_MAX_CHARS = 100;
export const SEARCH_MAX_WORDS = 5;

export interface PatientListItem {
  id: string;
  name: string;
  archived: boolean;
  merged: boolean;
}

export interface RecentPatient extends PatientListItem {
  openedAt: Date;
}

export type SearchQuery =
  | { kind: 'none' }
  | { kind: 'invalid'; text: string; reason: string }
  | { kind: 'search'; text: string; words: string[]; id: string | null };

/**
 * Reads the search box (pure). Normalises to NFC, drops control and format characters (PostgreSQL
 * refuses a NUL, and none belongs in a name), collapses whitespace. A valid Cliniko ID also matches
 * by ID; anything else is matched against the name columns, word by word.
 */
export function parseSearch(raw: string | undefined): SearchQuery {
  if (raw === undefined) return { kind: 'none' };
  const text = raw.normalize('NFC').replace(/[\p{Cc}\p{Cf}]/gu, ' ').replace(/\s+/gu, ' ').trim();
  if (text === '') return { kind: 'none' };
  if ([...text].length > SEARCH_MAX_CHARS) {
    return { kind: 'invalid', text: [...text].slice(0, SEARCH_MAX_CHARS).join(''), reason: `Search for at most ${SEARCH_MAX_CHARS} characters.` };
  }
  const words = text.split(' ');
  if (words.length > SEARCH_MAX_WORDS) {
    return { kind: 'invalid', text, reason: `Search for at most ${SEARCH_MAX_WORDS} words.` };
  }
  const id = parsePatientId({ patient_id: text });
  return { kind: 'search', text, words, id: id.ok ? id.id : null };
}

/** A word as a LIKE pattern matching it anywhere, its wildcards taken literally. */
export function containsPattern(word: string): string {
  return `%${word.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

interface NameColumns {
  cliniko_id: string;
  first_name: string;
  last_name: string;
  preferred_first_name: string | null;
  archived_at: Date | null;
  merged_into_id: string | null;
}

export function listItem(row: NameColumns): PatientListItem {
  const first = row.first_name.trim();
  const preferred = row.preferred_first_name?.trim() ?? '';
  const given = preferred && preferred !== first ? `${first} (${preferred})` : first;
  const name = [given, row.last_name.trim()].filter(Boolean).join(' ') || `Patient ${row.cliniko_id}`;
  return { id: row.cliniko_id, name, archived: row.archived_at !== null, merged: row.merged_into_id !== null };
}

/**
 * Distinct patients shown to `userId` (or to anyone at the clinic), newest first: the patients of
 * the newest RECENT_WINDOW successful views, each with its latest view.
 */
export async function recentlyOpened(db: TenantDb, options: { userId?: string; limit?: number } = {}): Promise<RecentPatient[]> {
  let views = db
    .selectFrom('audit_events')
    .select(['patient_id', 'occurred_at'])
    .where('action', '=', 'view')
    .where('outcome', '=', 'shown')
    .where('patient_id', 'is not', null);
  if (options.userId !== undefined) views = views.where('user_id', '=', options.userId);
  const window = views.orderBy('occurred_at', 'desc').limit(RECENT_WINDOW).as('v');
  const rows = await db
    .selectFrom(window)
    .innerJoin('patients as p', 'p.cliniko_id', 'v.patient_id')
    .select(['p.cliniko_id', 'p.first_name', 'p.last_name', 'p.preferred_first_name', 'p.archived_at', 'p.merged_into_id'])
    .select((eb) => eb.fn.max('v.occurred_at').as('opened_at'))
    .groupBy('p.cliniko_id')
    .orderBy('opened_at', 'desc')
    .orderBy('p.cliniko_id', 'desc')
    .limit(options.limit ?? RECENT_LIMIT)
    .execute();
  return rows.map((row) => ({ ...listItem(row), openedAt: new Date(row.opened_at) }));
}

export interface SearchResult {
  patients: PatientListItem[];
  /** More patients matched than are shown. */
  more: boolean;
}

/** Held patients whose ID is the query, or whose names contain every word of it. */
export async function searchPatients(db: TenantDb, query: Extract<SearchQuery, { kind: 'search' }>): Promise<SearchResult> {
  const rows = await db
    .selectFrom('patients')
    .select(['cliniko_id', 'first_name', 'last_name', 'preferred_first_name', 'archived_at', 'merged_into_id'])
    .where((eb) => {
      const byName = eb.and(
        query.words.map((word) => {
          const pattern = containsPattern(word);
          return eb.or([
            eb('first_name', 'ilike', pattern),
            eb('last_name', 'ilike', pattern),
            eb('preferred_first_name', 'ilike', pattern),
          ]);
        }),
      );
      return query.id === null ? byName : eb.or([eb('cliniko_id', '=', query.id), byName]);
    })
    .orderBy('last_name')
    .orderBy('first_name')
    .orderBy('cliniko_id')
    .limit(SEARCH_LIMIT + 1)
    .execute();
  return { patients: rows.slice(0, SEARCH_LIMIT).map(listItem), more: rows.length > SEARCH_LIMIT };
}

/** "just now", "5 min ago", "3 h ago", "2 days ago", then the date (pure; no time zone needed). */
export function openedAgo(at: Date, now: Date): string {
  const minutes = Math.floor((now.getTime() - at.getTime()) / 60_000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.floor(hours / 24);
  if (days < 14) return days === 1 ? 'yesterday' : `${days} days ago`;
  return at.toISOString().slice(0, 10);
}
