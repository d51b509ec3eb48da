// Server-rendered pages with Eta; every interpolation is HTML-escaped (autoEscape). Templates live
// next to the domain that owns them (src/<domain>/views/*.eta) and share infra/views/layout.eta.
//
// The layout draws the signed-in chrome (clinic, user and role, sign-out, the admin link) on every
// clinic page rendered through renderPage/sendPage, from the request itself: no route passes it and
// none queries for it (request.user and request.tenant are already loaded; the sign-out form's
// CSRF token is an HMAC). Anonymous visitors and the platform host get no chrome. A read-only
// clinic's pages all say so at the top, for everyone (readOnlyNotice).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { FastifyReply, FastifyRequest } from 'fastify';

const srcDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const eta = new Eta({ views: srcDir, autoEscape: true, cache: true, defaultExtension: '.eta' });

/** What the layout shows a signed-in user. */
export interface PageChrome {
  clinicName: string;
  userName: string;
  roleLabel: string;
  isAdmin: boolean;
  /** For the sign-out form (POST /logout). */
  csrfToken: string;
}

const ROLE_LABELS: Record<string, string> = { admin: 'Admin', staff: 'Staff' };

/** The chrome for this request: null unless someone is signed in on a clinic's host. */
export function pageChrome(request: FastifyRequest, reply: FastifyReply, token?: string): PageChrome | null {
  const { user, tenant } = request;
  if (!user || !tenant) return null;
  return {
    clinicName: tenant.displayName,
    userName: user.name,
    roleLabel: ROLE_LABELS[user.role] ?? user.role,
    isAdmin: user.role === 'admin',
    // The CSRF plugin (auth/csrf.ts) decorates the server with its token maker: infra imports no domain.
    csrfToken: token ?? request.server.csrfToken(request, reply),
  };
}

/** What every page of a read-only clinic says at the top (layout.eta): since when (UTC), and why. */
export interface ReadOnlyNotice {
  /** HH:MM, UTC. */
  since: string;
  /** The operator's words, shown instead of "while it is being moved"; null for those. */
  reason: string | null;
}

/** The notice for this request's clinic: null unless it is read-only (tenancy/read-only.ts). */
export function readOnlyNotice(request: FastifyRequest): ReadOnlyNotice | null {
  const tenant = request.tenant;
  if (!tenant || tenant.readOnlySince === null) return null;
  return { since: tenant.readOnlySince.toISOString().slice(11, 16), reason: tenant.readOnlyReason };
}

/** Renders `<domain>/views/<name>` with its data, without chrome (pages outside a request). */
export function render(template: string, data: Record<string, unknown>): string {
  return eta.render(`./${template}`, data);
}

/**
 * Renders a page of this request: its data plus the signed-in chrome. A page whose forms already
 * carry a token (`data.csrfToken`) shares it with the sign-out form: a second token made in the
 * same request, before the browser has the secret cookie, would mint a second secret and void the
 * first.
 */
export function renderPage(reply: FastifyReply, template: string, data: Record<string, unknown>): string {
  const token = typeof data['csrfToken'] === 'string' && data['csrfToken'] !== '' ? data['csrfToken'] : undefined;
  return render(template, { ...data, chrome: pageChrome(reply.request, reply, token), readOnly: readOnlyNotice(reply.request) });
}

/** True when the client asked for JSON rather than a page (API clients, scripts, tests). */
export function wantsJson(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? '';
  return accept.includes('application/json') && !accept.includes('text/html');
}

export function sendPage(reply: FastifyReply, template: string, data: Record<string, unknown>, statusCode = 200): FastifyReply {
  return reply.code(statusCode).type('text/html; charset=utf-8').send(renderPage(reply, template, data));
}
