// /admin/audit: the clinic's audit trail with filters (user, patient, action, days) and keyset
// paging; /admin/audit.csv: the same filters, every matching event, streamed as CSV. Both read the
// trail through the one query of patients/audit.ts, and both are themselves recorded in it
// (audit_viewed, audit_exported) before anything is sent, as a patient view is.
//
// A filter of the wrong shape is a 400: on the page, the form again with the values as typed and
// the problem next to its field; for the CSV, a page naming the field.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { authErrors } from '../auth/errors.ts';
import { listUsers } from '../auth/users.ts';
import { auditPage, recordAudit, requestOrigin, type AuditEntry, type PositionedAuditEvent } from '../patients/audit.ts';
import { requireClinic } from '../tenancy/plugin.ts';
import type { TenantDb } from '../tenancy/tenant-database.ts';
import { CSV_BATCH, auditCsv, csvFileName } from './audit-csv.ts';
import {
  ACTION_LABELS,
  AUDIT_ACTIONS,
  AuditFilterQuery,
  FIELD_LABELS,
  auditFilterFrom,
  cursorParam,
  filterQueryString,
  problemFromValidation,
  type AuditFilterField,
  type AuditFilterInput,
  type FilterProblem,
} from './audit-filters.ts';
import { adminErrors } from './errors.ts';
import { sendAdminPage } from './sections.ts';

/** Events per page. */
export const AUDIT_PAGE_SIZE = 50;

const FORM_FIELDS: readonly AuditFilterField[] = ['user', 'patient_id', 'action', 'from', 'to'];

/** The query as typed, for the form after a validation error (the values may not be strings). */
function formValues(query: unknown): AuditFilterInput {
  const values: Record<string, string> = {};
  const raw = typeof query === 'object' && query !== null ? (query as Record<string, unknown>) : {};
  for (const field of FORM_FIELDS) {
    const value = Object.hasOwn(raw, field) ? raw[field] : undefined;
    values[field] = typeof value === 'string' ? value : Array.isArray(value) ? value.map(String).join(',') : '';
  }
  return values as AuditFilterInput;
}

/** What the trail records about a look at it: the filters, as the query string gave them. */
function describeFilters(input: AuditFilterInput, page?: string): string {
  const filters = filterQueryString(input).slice(1);
  return `${filters === '' ? 'all events' : filters}${page ? `; page after ${page}` : ''}`;
}

function adminUser(request: FastifyRequest) {
  // requireAdmin (plugin.ts) let this request through, so someone is signed in.
  if (!request.user) throw authErrors.signInRequired();
  return request.user;
}

/** The trail's own event for a look at it (audit_viewed, audit_exported). */
async function recordLook(request: FastifyRequest, db: TenantDb, action: AuditEntry['action'], detail: string): Promise<void> {
  await recordAudit(db, { action, outcome: 'ok', detail, userId: adminUser(request).id, patientId: null, origin: requestOrigin(request) });
}

function eventView(event: PositionedAuditEvent) {
  return {
    id: event.id,
    // YYYY-MM-DD HH:MM:SS, UTC: the page says so; the CSV keeps the microseconds.
    at: event.position_at.slice(0, 19).replace('T', ' '),
    user: event.user_email ?? (event.user_id === null ? null : `user ${event.user_id} (removed)`),
    action: ACTION_LABELS[event.action] ?? event.action,
    outcome: event.outcome,
    patientId: event.patient_id,
    clientIp: event.client_ip,
    userAgent: event.user_agent,
    secFetchSite: event.sec_fetch_site,
    detail: event.detail,
  };
}

export async function auditRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  async function userOptions(db: TenantDb, selected: string | undefined) {
    const users = (await listUsers(db)).map((u) => ({ id: u.id, label: u.name ? `${u.name} (${u.email})` : u.email }));
    // A removed user's events stay in the trail and can still be filtered on.
    if (selected && /^[0-9]+$/.test(selected) && !users.some((u) => u.id === selected)) users.push({ id: selected, label: `user ${selected} (removed)` });
    return users;
  }

  async function sendFilterProblem(request: FastifyRequest, reply: FastifyReply, values: AuditFilterInput, problem: FilterProblem) {
    const { db } = requireClinic(request);
    return sendAdminPage(
      reply,
      'audit',
      'audit',
      { title: 'Audit trail', values, problem, users: await userOptions(db, values.user), actions: actionOptions(), events: null, nextHref: null, csvHref: null, filtered: true },
      400,
    );
  }

  app.get('/audit', { schema: { querystring: AuditFilterQuery }, attachValidation: true }, async (request, reply) => {
    const { db } = requireClinic(request);
    const input = request.query;
    const checked = request.validationError ? { ok: false as const, problem: problemFromValidation(request.validationError) } : auditFilterFrom(input);
    if (!checked.ok) return sendFilterProblem(request, reply, formValues(input), checked.problem);

    const page = await auditPage(db, { ...checked.filter, ...(checked.after ? { after: checked.after } : {}), limit: AUDIT_PAGE_SIZE });
    const users = await userOptions(db, input.user);
    await recordLook(request, db, 'audit_viewed', describeFilters(input, input.after));
    const filtered = FORM_FIELDS.some((field) => Boolean(input[field]));
    return sendAdminPage(reply, 'audit', 'audit', {
      title: 'Audit trail',
      values: formValues(input),
      problem: null,
      users,
      actions: actionOptions(),
      events: page.events.map(eventView),
      isFirstPage: !checked.after,
      firstHref: `/admin/audit${filterQueryString(input)}`,
      nextHref: page.next ? `/admin/audit${filterQueryString(input, { after: cursorParam(page.next) })}` : null,
      csvHref: `/admin/audit.csv${filterQueryString(input)}`,
      filtered,
    });
  });

  app.get('/audit.csv', { schema: { querystring: AuditFilterQuery }, attachValidation: true }, async (request, reply) => {
    const clinic = requireClinic(request);
    const checked = request.validationError ? { ok: false as const, problem: problemFromValidation(request.validationError) } : auditFilterFrom(request.query);
    if (!checked.ok) {
      request.backLink = { href: '/admin/audit', label: 'Back to the audit trail' };
      throw adminErrors.invalidAuditFilter(FIELD_LABELS[checked.problem.field], checked.problem.message);
    }
    // The whole filtered trail: a page link's position does not apply to an export.
    // The first batch is read before anything is sent: a database that is down gets the usual
    // 503 page rather than an empty download.
    const first = await auditPage(clinic.db, { ...checked.filter, limit: CSV_BATCH });
    await recordLook(request, clinic.db, 'audit_exported', describeFilters(request.query));
    return reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${csvFileName(clinic.tenant.slug, new Date())}"`)
      .header('cache-control', 'no-store')
      .send(auditCsv({ db: clinic.db, filter: checked.filter, first, log: request.log }));
  });
}

function actionOptions() {
  return AUDIT_ACTIONS.map((action) => ({ value: action, label: ACTION_LABELS[action] }));
}
