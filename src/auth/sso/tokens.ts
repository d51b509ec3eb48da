// Short-lived signed values that carry a sign-in across hosts (platform providers, issue 3 point 5):
//   - `attempt`: the tenant host's reference to a login attempt, sent to the auth host;
//   - `transaction`: the auth host's state + nonce, kept in an HttpOnly cookie there;
//   - `handoff`: the single-use token that brings the user back to the tenant host;
//   - `signup`: a checked sign-up form (platform host) carried to the auth host while its first
//     admin signs in at a platform provider (signup/service.ts).
// They are compact JWS (HS256, via jose) with an expiry, each under its own key derived from the
// session secret (HKDF, one `info` per purpose) and its own audience, so a value minted for one
// purpose never verifies as another.
import { hkdfSync } from 'node:crypto';
import { jwtVerify, SignJWT, type JWTPayload } from 'jose';

export type SsoTokenPurpose = 'attempt' | 'transaction' | 'handoff' | 'signup';

const ISSUER = 'sidechart';
const PURPOSES: readonly SsoTokenPurpose[] = ['attempt', 'transaction', 'handoff', 'signup'];

export interface SsoTokens {
  sign(purpose: SsoTokenPurpose, claims: Record<string, string | boolean>, ttlSeconds: number): Promise<string>;
  /** The claims, or null for anything forged, expired, malformed or minted for another purpose. */
  verify(purpose: SsoTokenPurpose, token: unknown): Promise<JWTPayload | null>;
}

export function createSsoTokens(secret: string): SsoTokens {
  if (secret.length < 32) throw new Error('the SSO signing secret must be at least 32 characters');
  const keys = new Map<SsoTokenPurpose, Uint8Array>(
    PURPOSES.map((purpose) => [purpose, new Uint8Array(hkdfSync('sha256', secret, 'sidechart-sso', `sso-${purpose}`, 32))]),
  );
  const keyFor = (purpose: SsoTokenPurpose): Uint8Array => keys.get(purpose)!;

  return {
    async sign(purpose, claims, ttlSeconds) {
      return new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', typ: `sidechart-${purpose}` })
        .setIssuer(ISSUER)
        .setAudience(`${ISSUER}:${purpose}`)
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
        .sign(keyFor(purpose));
    },

    async verify(purpose, token) {
      if (typeof token !== 'string' || token.length === 0 || token.length > 4096) return null;
      try {
        const { payload } = await jwtVerify(token, keyFor(purpose), {
          algorithms: ['HS256'],
          issuer: ISSUER,
          audience: `${ISSUER}:${purpose}`,
          typ: `sidechart-${purpose}`,
          requiredClaims: ['exp', 'iat'],
          clockTolerance: 5,
        });
        return payload;
      } catch {
        return null;
      }
    },
  };
}

/** A string claim, or null when absent or of another type. */
export function stringClaim(payload: JWTPayload, name: string): string | null {
  const value = payload[name];
  return typeof value === 'string' && value !== '' ? value : null;
}
