// The login attempt kept server-side in the browser's pre-login session (`session.oidc`), one at a
// time: starting another replaces it, and the callback (or hand-off) removes it before anything
// else, so each attempt is used at most once. Read back through these parsers: a session written by
// another version, or tampered in the database, yields "no attempt", never a half-checked one.

/** How long a sign-in may take at the identity provider. */
export const LOGIN_ATTEMPT_TTL_MS = 10 * 60 * 1000;

/** The clinic's own provider (openid-client on the clinic's host). */
export interface ClinicOidcAttempt {
  kind: 'clinic';
  state: string;
  nonce: string;
  codeVerifier: string;
  /** Mix-up defence: the answer must come from this issuer. */
  expectedIssuer: string;
  createdAt: number;
}

/** A platform provider (via the auth host and a hand-off). */
export interface PlatformAttempt {
  kind: 'platform';
  attemptId: string;
  providerId: string;
  createdAt: number;
}

export type LoginAttempt = ClinicOidcAttempt | PlatformAttempt;

function str(record: Record<string, unknown>, key: string): string | null {
  const value = record[key];
  return typeof value === 'string' && value !== '' ? value : null;
}

/** The attempt stored in a session slot, if it is well-formed, of the wanted kind and not expired. */
export function readAttempt(slot: unknown, kind: 'clinic', now?: number): ClinicOidcAttempt | null;
export function readAttempt(slot: unknown, kind: 'platform', now?: number): PlatformAttempt | null;
export function readAttempt(slot: unknown, kind: LoginAttempt['kind'], now = Date.now()): LoginAttempt | null {
  if (typeof slot !== 'object' || slot === null || Array.isArray(slot)) return null;
  const record = slot as Record<string, unknown>;
  const createdAt = record.createdAt;
  if (record.kind !== kind || typeof createdAt !== 'number' || !Number.isFinite(createdAt)) return null;
  if (createdAt > now + 60_000 || now - createdAt > LOGIN_ATTEMPT_TTL_MS) return null;
  if (kind === 'clinic') {
    const state = str(record, 'state');
    const nonce = str(record, 'nonce');
    const codeVerifier = str(record, 'codeVerifier');
    const expectedIssuer = str(record, 'expectedIssuer');
    if (state === null || nonce === null || codeVerifier === null || expectedIssuer === null) return null;
    return { kind, state, nonce, codeVerifier, expectedIssuer, createdAt };
  }
  const attemptId = str(record, 'attemptId');
  const providerId = str(record, 'providerId');
  if (attemptId === null || providerId === null) return null;
  return { kind, attemptId, providerId, createdAt };
}

/** The query an authorization response may carry (RFC 6749 + RFC 9207 `iss`), bounded in size. */
export const authorizationResponseQuery = {
  type: 'object',
  properties: {
    code: { type: 'string', maxLength: 4096 },
    state: { type: 'string', maxLength: 1024 },
    iss: { type: 'string', maxLength: 2048 },
    error: { type: 'string', maxLength: 256 },
  },
} as const;
