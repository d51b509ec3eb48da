// Sidechart's own notes on a patient: written by clinic staff, shown with author and time.
import { sql, type ExpressionBuilder, type Selectable } from 'kysely';
import { jsonArrayFrom } from 'kysely/helpers/postgres';
import type { TenantDatabase, TenantDb } from '../tenancy/tenant-database.ts';
import type { PatientNotesTable } from './tables.ts';

export type NoteRow = Selectable<PatientNotesTable>;

export const NOTE_MAX_CHARACTERS = 5000;

export type NoteTextResult = { ok: true; text: string } | { ok: false; reason: string };

/**
 * The note as it will be stored: trimmed, 1 to 5000 characters (code points, as PostgreSQL's
 * char_length counts them, so the check constraint agrees), line breaks normalised.
 */
export function checkNoteText(input: unknown): NoteTextResult {
  if (typeof input !== 'string') return { ok: false, reason: 'The note is missing.' };
  const text = input.replace(/\r\n?/g, '\n').trim();
  if (text === '') return { ok: false, reason: 'The note is empty. Write something before saving.' };
  if (text.includes('\u0000')) return { ok: false, reason: 'The note contains a character that cannot be stored.' };
  const length = [...text].length;
  if (length > NOTE_MAX_CHARACTERS) {
    return { ok: false, reason: `The note is ${length} characters long; the limit is ${NOTE_MAX_CHARACTERS}.` };
  }
  return { ok: true, text };
}

export async function addNote(db: TenantDb, note: { patientId: string; authorUserId: string; authorName: string; text: string }): Promise<NoteRow> {
  return db
    .insertInto('patient_notes')
    .values({ patient_id: note.patientId, author_user_id: note.authorUserId, author_name: note.authorName, body: note.text })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** At most this many notes are shown on a page, newest first. */
export const NOTES_SHOWN = 500;

/**
 * The notes of the patient row `p` in the same query as the row (one round trip fewer on the
 * patient page's common path), as JSON: IDs cast to text so that no bigint becomes a JSON number.
 */
export function notesOfPatientJson(eb: ExpressionBuilder<TenantDatabase & { p: TenantDatabase['patients'] }, 'p'>) {
  return jsonArrayFrom(
    eb
      .selectFrom('patient_notes as n')
      .select((nb) => [
        nb.cast<string>('n.id', 'text').as('id'),
        nb.cast<string>('n.patient_id', 'text').as('patient_id'),
        nb.cast<string | null>('n.author_user_id', 'text').as('author_user_id'),
        'n.author_name',
        'n.body',
        sql<string>`${nb.ref('n.created_at')}`.as('created_at'),
      ])
      .whereRef('n.patient_id', '=', 'p.cliniko_id')
      .orderBy('n.created_at', 'desc')
      .orderBy('n.id', 'desc')
      .limit(NOTES_SHOWN),
  );
}

/** Rows from notesOfPatientJson, with real Dates. */
export function notesFromJson(rows: ReadonlyArray<Omit<NoteRow, 'created_at'> & { created_at: string }>): NoteRow[] {
  return rows.map((row) => ({ ...row, created_at: new Date(row.created_at) }));
}

/** Notes on these patients (a record and those merged into it), newest first. */
export async function listNotes(db: TenantDb, patientIds: readonly string[]): Promise<NoteRow[]> {
  if (patientIds.length === 0) return [];
  return db
    .selectFrom('patient_notes')
    .selectAll()
    .where('patient_id', 'in', patientIds)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(NOTES_SHOWN)
    .execute();
}
