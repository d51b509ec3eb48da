// The login attempt kept server-side in the browser's pre-login session (`session.oidc`), one at a
// time: starting another replaces it, and the callback (or hand-off) removes it before anything
// else, so each attempt is used at most once. Read back through these schemas: a session written by
// another version, or tampered in the database, yields "no attempt", never a half-checked one.
import { Type, type Static } from 'typebox';
import { shapeOf } from '../../infra/schemas.ts';

/** How long a sign-in may take at the identity provider. */
export const LOGIN_ATTEMPT_TTL_MS = 10 * 60 * 1000;

const Text = Type.String({ minLength: 1 });

/** The clinic's own provider (openid-client on the clinic's host). */
const ClinicOidcAttemptSchema = Type.Object({
  kind: Type.Literal('clinic'),
  state: Text,
  nonce: Text,
  codeVerifier: Text,
  /** Mix-up defence: the answer must come from this issuer. */
  expectedIssuer: Text,
  createdAt: Type.Number(),
});

/** A platform provider (via the auth host and a hand-off). */
const PlatformAttemptSchema = Type.Object({
  kind: Type.Literal('platform'),
  attemptId: Text,
  providerId: Text,
  createdAt: Type.Number(),
});

export type ClinicOidcAttempt = Static<typeof ClinicOidcAttemptSchema>;
export type PlatformAttempt = Static<typeof PlatformAttemptSchema>;
export type LoginAttempt = ClinicOidcAttempt | PlatformAttempt;

const shapes = { clinic: shapeOf(ClinicOidcAttemptSchema), platform: shapeOf(PlatformAttemptSchema) };

/** The attempt stored in a session slot, if it is well-formed, of the wanted kind and not expired. */
export function readAttempt(slot: unknown, kind: 'clinic', now?: number): ClinicOidcAttempt | null;
export function readAttempt(slot: unknown, kind: 'platform', now?: number): PlatformAttempt | null;
export function readAttempt(slot: unknown, kind: LoginAttempt['kind'], now = Date.now()): LoginAttempt | null {
  const shape = shapes[kind];
  if (!shape.check(slot)) return null;
  const { createdAt } = slot;
  if (!Number.isFinite(createdAt) || createdAt > now + 60_000 || now - createdAt > LOGIN_ATTEMPT_TTL_MS) return null;
  // Only the fields of the schema: nothing else a tampered row carried comes along.
  if (slot.kind === 'clinic') {
    const { state, nonce, codeVerifier, expectedIssuer } = slot;
    return { kind: 'clinic', state, nonce, codeVerifier, expectedIssuer, createdAt };
  }
  return { kind: 'platform', attemptId: slot.attemptId, providerId: slot.providerId, createdAt };
}

/** The query an authorization response may carry (RFC 6749 + RFC 9207 `iss`), bounded in size. */
export const AuthorizationResponseQuery = Type.Object({
  code: Type.Optional(Type.String({ maxLength: 4096 })),
  state: Type.Optional(Type.String({ maxLength: 1024 })),
  iss: Type.Optional(Type.String({ maxLength: 2048 })),
  error: Type.Optional(Type.String({ maxLength: 256 })),
});
