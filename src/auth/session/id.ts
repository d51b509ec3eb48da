// Session IDs say where their session lives: `<region>.<schema>.<random>`, e.g.
// `local.t_12.Vx3...` (43 base64url characters of 32 random bytes: 256 bits from the CSPRNG).
// The store callbacks get no request, so the ID is how the store finds the clinic's own sessions
// table in the clinic's own region; the cookie signature (@fastify/session) makes sure only IDs
// the server issued are looked up at all.
import { randomBytes } from 'node:crypto';

export interface SessionLocation {
  regionId: string;
  schemaName: string;
}

const SESSION_ID = /^([a-z][a-z0-9-]{0,30})\.(t_[0-9]{1,19})\.([A-Za-z0-9_-]{43})$/;

export function newSessionId(location: SessionLocation): string {
  return `${location.regionId}.${location.schemaName}.${randomBytes(32).toString('base64url')}`;
}

/** Where a session ID says its session lives, or null for anything we did not issue. */
export function parseSessionId(id: unknown): SessionLocation | null {
  if (typeof id !== 'string') return null;
  const match = SESSION_ID.exec(id);
  if (match === null) return null;
  return { regionId: match[1]!, schemaName: match[2]! };
}

/**
 * True when a (signed) cookie value names a session of this clinic. Checked before the session is
 * loaded, so a cookie from another clinic's host never reaches any store, let alone that clinic's.
 */
export function cookieBelongsTo(cookieValue: string, location: SessionLocation): boolean {
  return cookieValue.startsWith(`${location.regionId}.${location.schemaName}.`);
}

/** For hosts without a clinic: an ID the store refuses to read or write. */
export function unusableSessionId(): string {
  return `none.${randomBytes(32).toString('base64url')}`;
}
