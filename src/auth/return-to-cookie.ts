// Where to send a user after sign-in, kept in a signed cookie so that an anonymous click on the
// patient button writes nothing (no pre-login session row). requireUser() remembers the page on an
// anonymous GET; signIn() takes it back once, whatever the sign-in method.
//
// security.md keeps return_to server-side so the client cannot choose or move it. This cookie is
// equivalent: its HMAC covers the clinic, an expiry (the pre-login session's hour) and the path, so
// the client can neither write a path, nor carry one to another clinic, nor keep it past the hour.
//
// The value signed is `<tenant id>:<expiry, epoch ms>:<path>`; @fastify/cookie signs it with a key
// derived from the session secret (registered in session/plugin.ts). The path is validated with
// safeReturnTo() when it is set and again when it is read.
import { createHmac } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PRE_LOGIN_TTL_MS } from './session/store.ts';
import { safeReturnTo } from './return-to.ts';

/** Browsers keep cookies up to 4096 bytes (name and value): a longer one is not set at all. */
const MAX_COOKIE_BYTES = 4000;

/**
 * The key of signed cookies: HMAC-SHA256 of a fixed label under the session secret, as base64url
 * text (256 bits either way; Node's HMAC with a Buffer key costs 6x a string key's per call).
 */
export function returnToCookieKey(sessionSecret: string): string {
  return createHmac('sha256', sessionSecret).update('sidechart return-to cookie').digest('base64url');
}

export interface ReturnToCookieSettings {
  name: string;
  options: { path: '/'; httpOnly: true; sameSite: 'lax'; secure: boolean; maxAge: number };
}

/** Host-only (no Domain), like the session cookie; `__Host-` whenever the session cookie is Secure. */
export function returnToCookieSettings(secure: boolean): ReturnToCookieSettings {
  return {
    name: secure ? '__Host-sidechart-return' : 'sidechart-return',
    options: { path: '/', httpOnly: true, sameSite: 'lax', secure, maxAge: PRE_LOGIN_TTL_MS / 1000 },
  };
}

/** The value to sign for this clinic, or null when the path is not one to return to. */
export function returnToPayload(input: { tenantId: string; path: string; now: number }): string | null {
  const path = safeReturnTo(input.path);
  if (path === null || input.tenantId === '' || input.tenantId.includes(':')) return null;
  return `${input.tenantId}:${input.now + PRE_LOGIN_TTL_MS}:${path}`;
}

const PAYLOAD = /^([^:]+):([0-9]{1,16}):(.*)$/s;

/** The path of a verified payload, if it was issued for this clinic and has not expired. */
export function pathFromPayload(payload: string, expected: { tenantId: string; now: number }): string | null {
  const match = PAYLOAD.exec(payload);
  if (match === null) return null;
  const [, tenantId, expiry, path] = match;
  if (tenantId !== expected.tenantId || Number(expiry) <= expected.now) return null;
  return safeReturnTo(path);
}

/** The cookie's settings for this request: the session cookie's own Secure setting decides. */
function settingsFor(request: FastifyRequest): ReturnToCookieSettings {
  return returnToCookieSettings(request.session.cookie.secure === true);
}

/** On an anonymous GET of a clinic page: remember it (replacing any earlier one). */
export function rememberReturnTo(request: FastifyRequest, reply: FastifyReply, now = Date.now()): void {
  const { name, options } = settingsFor(request);
  const payload = request.tenant ? returnToPayload({ tenantId: request.tenant.id, path: request.url, now }) : null;
  const signed = payload === null ? null : reply.signCookie(payload);
  if (signed === null || name.length + encodeURIComponent(signed).length + 1 > MAX_COOKIE_BYTES) {
    // Nothing to return to (or too long to keep): drop an older one so it cannot take its place.
    if (request.cookies[name] !== undefined) clearReturnTo(reply, name, options);
    return;
  }
  reply.setCookie(name, signed, options);
}

/**
 * At sign-in: the remembered path if its signature, clinic and expiry hold, else null. The cookie
 * is cleared either way: a path is used once.
 */
export function takeReturnTo(request: FastifyRequest, reply: FastifyReply, now = Date.now()): string | null {
  const { name, options } = settingsFor(request);
  const value = request.cookies[name];
  if (value === undefined) return null;
  clearReturnTo(reply, name, options);
  const unsigned = request.unsignCookie(value);
  if (!unsigned.valid || unsigned.value === null || !request.tenant) return null;
  return pathFromPayload(unsigned.value, { tenantId: request.tenant.id, now });
}

function clearReturnTo(reply: FastifyReply, name: string, options: ReturnToCookieSettings['options']): void {
  const { maxAge: _maxAge, ...attributes } = options;
  reply.clearCookie(name, attributes);
}
