// The patient button's routes on a clinic's host.
//
// GET /patients?patient_id=<Cliniko ID> is what Cliniko's custom button opens (a cross-site,
// top-level GET). Read top to bottom: the ID is checked (400 if it is not one), the visitor must be
// signed in to this clinic (else the sign-in redirect, which brings them back here), the patient is
// looked up by the sync policy (sync.ts), the page is rendered, the view is written to the audit
// trail, and only then is the page sent. With the session cached, a fresh held patient costs one
// query (the record and its notes) and a share of one group-committed audit INSERT (audit.ts). Its only side effects are that audit event and the
// refreshed Cliniko record. Refused attempts are audited when someone is signed in (here, or at
// another clinic whose session cookie came along); a visitor who is not signed in is only counted
// and logged, so an anonymous click writes nothing to the database (the return path is a cookie).
// While the clinic is read-only (tenancy/read-only.ts) Cliniko is not asked: a held record is shown
// as it is, a patient not held gets the read-only page, and the audit event is the one write.
//
// POST /patients/:id/notes adds a Sidechart note (CSRF-checked by the auth plugin like every POST)
// and writes the note and its audit event in one transaction.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Counter } from 'prom-client';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from '../config.ts';
import { sessionCookieSettings } from '../auth/session/plugin.ts';
import { cookieBelongsTo } from '../auth/session/id.ts';
import { requireUser } from '../auth/guards.ts';
import { csrfToken } from '../auth/csrf.ts';
import { renderPage, sendPage } from '../infra/html.ts';
import { requireClinic, requireTenant } from '../tenancy/plugin.ts';
import { isReadOnly } from '../tenancy/read-only.ts';
import { tenancyErrors } from '../tenancy/errors.ts';
import type { AppError } from '../infra/errors.ts';
import { patientErrors } from './errors.ts';
import { recordAudit, requestOrigin, type AuditEntry, type AuditWriter } from './audit.ts';
import { addNote, checkNoteText, listNotes, NOTE_MAX_CHARACTERS } from './notes.ts';
import { parsePatientId } from './patient-id.ts';
import { findPatient, type PatientLookup, type PatientSync } from './sync.ts';
import { displayZone, noteViews, patientPageModel, syncBanner, syncFailureText } from './view-model.ts';
import type { ClinikoPatient } from '../cliniko/types.ts';

export interface PatientRoutesOptions {
  config: Config;
  sync: PatientSync;
  audit: AuditWriter;
  /** Refusals of anonymous visitors, counted instead of audited (metrics.ts). */
  anonymousRequests: Pick<Counter<'reason'>, 'inc'>;
  /** Requests per client address per minute by visitors who are not signed in (infra/load.ts). */
  anonymousPerMinute: number;
}

type DeniedEntry = Omit<AuditEntry, 'action' | 'origin' | 'userId'>;

const NoteParams = Type.Object({ id: Type.String({ maxLength: 40 }) });
const NoteBody = Type.Object({
  // Generous: the real limit (5000 characters after trimming) gets a clear page below.
  text: Type.Optional(Type.String({ maxLength: 40_000 })),
  _csrf: Type.Optional(Type.String({ maxLength: 512 })),
});

export function patientUrl(id: string): string {
  return `/patients?patient_id=${id}`;
}

export async function patientRoutes(fastify: FastifyInstance, options: PatientRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { config, sync, audit, anonymousRequests } = options;
  const sessionCookie = sessionCookieSettings(config).name;

  /** A session cookie is present but names another clinic (it was dropped before loading). */
  function hasOtherClinicSession(request: FastifyRequest): boolean {
    const header = request.headers.cookie;
    if (!header || !request.tenant) return false;
    const value = app.parseCookie(header)[sessionCookie];
    return value !== undefined && !cookieBelongsTo(value, request.tenant);
  }

  /** Records a refused attempt; a failure is logged but does not change the refusal. */
  async function auditDenied(request: FastifyRequest, entry: DeniedEntry): Promise<void> {
    try {
      await audit.record(requireClinic(request), { ...entry, action: 'denied', userId: request.user?.id ?? null, origin: requestOrigin(request) });
    } catch (error) {
      request.log.error({ err: error, event: 'audit_write_failed' }, 'could not record a refused patient access');
    }
  }

  /**
   * A refusal: audited when someone is signed in here or presents another clinic's session;
   * a visitor who is neither is counted and logged (no row: anonymous traffic writes nothing).
   */
  async function refuse(request: FastifyRequest, entry: DeniedEntry): Promise<void> {
    if (request.user || hasOtherClinicSession(request)) return auditDenied(request, entry);
    const reason = entry.outcome === 'bad_patient_id' ? 'bad_patient_id' : 'anonymous';
    anonymousRequests.inc({ reason });
    request.log.info({ event: 'patient_access_denied', reason, patientId: entry.patientId, detail: entry.detail ?? null }, 'patient request refused: not signed in');
  }

  app.get(
    '/patients',
    {
      preHandler: requireTenant,
      // Visitors who are not signed in are limited per address (after the session is known).
      config: { rateLimit: { max: options.anonymousPerMinute, timeWindow: 60_000, hook: 'preHandler', allowList: (request: FastifyRequest) => request.user !== null } },
      // patient_id is deliberately not declared: the validator would coerce it (arrays, numbers)
      // or refuse it with a 400 before anything is audited, and a bad ID must be audited first.
      // parsePatientId (patient-id.ts) sees exactly what was sent and says what is wrong with it.
      schema: { querystring: Type.Object({}) },
    },
    async (request, reply) => {
      const clinic = requireClinic(request);
      const parsed = parsePatientId(request.query);
      if (!parsed.ok) {
        await refuse(request, { outcome: 'bad_patient_id', patientId: null, detail: parsed.reason });
        throw patientErrors.invalidPatientLink(parsed.reason);
      }
      const patientId = parsed.id;
      if (!request.user) {
        const outcome = hasOtherClinicSession(request) ? 'other_clinic_session' : 'anonymous';
        await refuse(request, { outcome, patientId });
        return requireUser(request, reply);
      }

      const lookup = await sync.lookup(clinic, patientId, request.log, { readOnly: isReadOnly(clinic.tenant) });
      const page = await renderLookup(request, reply, lookup, patientId);
      try {
        await audit.record(clinic, {
          action: 'view',
          outcome: page.outcome,
          detail: page.detail,
          userId: request.user.id,
          patientId: page.auditPatientId,
          origin: requestOrigin(request),
        });
      } catch (error) {
        request.log.error({ err: error, event: 'audit_write_failed' }, 'could not record a patient view: page withheld');
        throw patientErrors.auditUnavailable();
      }
      if (page.refusal) throw page.refusal;
      return reply
        .code(page.statusCode)
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(page.html);
    },
  );

  app.post(
    '/patients/:id/notes',
    { preHandler: requireTenant, schema: { params: NoteParams, body: NoteBody } },
    async (request, reply) => {
      const clinic = requireClinic(request);
      const parsed = parsePatientId({ patient_id: request.params.id });
      if (!parsed.ok) {
        await refuse(request, { outcome: 'bad_patient_id', patientId: null, detail: parsed.reason });
        throw patientErrors.invalidPatientId(parsed.reason);
      }
      const patientId = parsed.id;
      const user = request.user;
      if (!user) {
        await refuse(request, { outcome: hasOtherClinicSession(request) ? 'other_clinic_session' : 'anonymous', patientId, detail: 'add note' });
        throw patientErrors.signInToAddNote();
      }
      const text = checkNoteText(request.body?.text);
      if (!text.ok) {
        reply.header('cache-control', 'no-store');
        return sendPage(
          reply,
          'patients/views/note-error',
          {
            title: 'Note not saved',
            clinicName: clinic.tenant.displayName,
            reason: text.reason,
            draft: typeof request.body?.text === 'string' ? request.body.text : '',
            backHref: patientUrl(patientId),
          },
          422,
        );
      }
      if (!(await findPatient(clinic, patientId))) throw patientErrors.patientNotHeld();
      await clinic.db.transaction().execute(async (trx) => {
        const note = await addNote(trx, { patientId, authorUserId: user.id, authorName: user.name, text: text.text });
        await recordAudit(trx, {
          action: 'note_added',
          outcome: 'ok',
          detail: `note ${note.id}`,
          userId: user.id,
          patientId,
          origin: requestOrigin(request),
        });
      });
      reply.header('cache-control', 'no-store');
      return reply.redirect(patientUrl(patientId), 303);
    },
  );
}

interface RenderedPage {
  statusCode: number;
  html: string;
  outcome: string;
  detail: string | null;
  /** The patient whose record the page shows (the survivor of a merge), else the one asked for. */
  auditPatientId: string;
  /** Audited, then answered by the error handler instead of `html` (a read-only clinic). */
  refusal?: AppError;
}

async function renderLookup(request: FastifyRequest, reply: FastifyReply, lookup: PatientLookup, patientId: string): Promise<RenderedPage> {
  const { tenant } = requireClinic(request);
  const base = { clinicName: tenant.displayName, patientId };
  switch (lookup.kind) {
    case 'read_only':
      return { statusCode: 503, html: '', outcome: 'read_only', detail: null, auditPatientId: patientId, refusal: tenancyErrors.clinicReadOnly('new-patient') };
    case 'not_found':
      return {
        statusCode: 404,
        html: renderPage(reply, 'patients/views/not-found', { ...base, title: 'Patient not found' }),
        outcome: 'not_found',
        detail: null,
        auditPatientId: patientId,
      };
    case 'not_connected':
      return {
        statusCode: 503,
        html: renderPage(reply, 'patients/views/not-connected', { ...base, title: 'Cliniko is not connected', slug: tenant.slug }),
        outcome: 'not_connected',
        detail: null,
        auditPatientId: patientId,
      };
    case 'unavailable':
      return {
        statusCode: 503,
        html: renderPage(reply, 'patients/views/unavailable', {
          ...base,
          title: 'Cliniko unavailable',
          reason: syncFailureText(lookup.failure),
          stillTrying: lookup.stillTrying,
        }),
        outcome: 'unavailable',
        detail: lookup.failure,
        auditPatientId: patientId,
      };
    case 'found': {
      const now = new Date();
      const patient = patientPageModel(lookup.patient, now);
      const shownIds = [lookup.patient.cliniko_id, ...lookup.mergedFrom.map((m) => m.cliniko_id)];
      // Read with the record on the common path; after a fetch or across a merge, read them now.
      const notes = lookup.mergedFrom.length === 0 && lookup.patient.notes ? lookup.patient.notes : await listNotes(requireClinic(request).db, shownIds);
      const zone = displayZone(lookup.patient.data as ClinikoPatient);
      const lastFailure =
        lookup.sync.state !== 'refresh_failed' && lookup.patient.sync_error !== null && lookup.sync.state !== 'fetched'
          ? syncFailureText(lookup.patient.sync_error)
          : null;
      const html = renderPage(reply, 'patients/views/patient', {
        // Not the name: titles end up in browser history and window lists on shared computers.
        title: 'Patient',
        clinicName: tenant.displayName,
        patient,
        requestedId: patientId,
        banner: syncBanner(lookup.sync),
        lastFailure,
        isMerged: lookup.patient.merged_into_id !== null,
        mergedFrom: lookup.mergedFrom.map((m) => ({ id: m.cliniko_id, name: patientPageModel(m, now).fullName })),
        survivorId: lookup.patient.merged_into_id,
        survivorProblem: lookup.survivorProblem === null ? null : survivorProblemText(lookup.survivorProblem),
        notes: noteViews(notes, zone),
        noteMax: NOTE_MAX_CHARACTERS,
        notesPaused: isReadOnly(tenant),
        csrfToken: csrfToken(request, reply),
      });
      const merged = lookup.mergedFrom.length > 0 ? `merged from ${lookup.mergedFrom.map((m) => m.cliniko_id).join(',')}; ` : '';
      const syncDetail = lookup.sync.state === 'refresh_failed' ? `refresh_failed:${lookup.sync.kind}` : lookup.sync.state;
      return { statusCode: 200, html, outcome: 'shown', detail: `${merged}${syncDetail}`, auditPatientId: lookup.patient.cliniko_id };
    }
  }
}

function survivorProblemText(problem: string): string {
  if (problem === 'not_found') return 'Cliniko has no such patient.';
  if (problem === 'not_connected') return 'Cliniko is not connected.';
  if (problem === 'read_only') return 'fetching it from Cliniko is paused while this clinic is read-only.';
  return syncFailureText(problem);
}
