// Session IDs say where their session lives: `<region>.<schema>.<random>`, e.g.
// `local.t_12.Vx3...` (43 base64url characters of 32 random bytes: 256 bits from the CSPRNG).
// The store callbacks get no request, so the ID is how the store finds the clinic's own sessions
// table in the clinic's own region; the cookie signature (@fastify/session) makes sure only IDs
// the server issued are looked up at all.
import { randomFillSync } from 'node:crypto';

// @fastify/session names a new session for every request that arrives without one, and a call to
// the CSPRNG per ID cost 5 µs (a syscall); so IDs are cut from a pool of CSPRNG bytes filled 8 KiB at
// a time, each byte used once (what Node does for randomUUID). Not tenant state: only randomness.
const POOL_BYTES = 8192;
let pool = Buffer.alloc(0);
let used = POOL_BYTES;

/** 32 bytes from the CSPRNG as base64url (43 characters). */
function random256(): string {
  if (used + 32 > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
    used = 0;
  }
  const text = pool.toString('base64url', used, used + 32);
  used += 32;
  return text;
}

export interface SessionLocation {
  regionId: string;
  schemaName: string;
}

const SESSION_ID = /^([a-z][a-z0-9-]{0,30})\.(t_[0-9]{1,19})\.([A-Za-z0-9_-]{43})$/;

export function newSessionId(location: SessionLocation): string {
  return `${location.regionId}.${location.schemaName}.${random256()}`;
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
 * The schema decides (`t_<clinic id>`, one per clinic, kept when the clinic moves): the region
 * part says where the session began, and a clinic moved since keeps its signed-in staff.
 */
export function cookieBelongsTo(cookieValue: string, location: SessionLocation): boolean {
  const dot = cookieValue.indexOf('.');
  return dot > 0 && REGION_PART.test(cookieValue.slice(0, dot)) && cookieValue.startsWith(`${location.schemaName}.`, dot + 1);
}

const REGION_PART = /^[a-z][a-z0-9-]{0,30}$/;

/** For hosts without a clinic: an ID the store refuses to read or write. */
export function unusableSessionId(): string {
  return `none.${random256()}`;
}
