// Password hashing with argon2id, and the rules for a new password.
import { randomBytes } from 'node:crypto';
import argon2 from 'argon2';

export const PASSWORD_MIN_LENGTH = 10;
/** argon2 hashes anything, but a megabyte "password" is an attack on our CPU, not a password. */
export const PASSWORD_MAX_LENGTH = 1024;

/** Why a new password is refused, or null when it is acceptable. */
export function checkNewPassword(password: string): string | null {
  if (password.length < PASSWORD_MIN_LENGTH) return `a password needs at least ${PASSWORD_MIN_LENGTH} characters`;
  if (password.length > PASSWORD_MAX_LENGTH) return `a password may have at most ${PASSWORD_MAX_LENGTH} characters`;
  return null;
}

export interface PasswordHasherOptions {
  /** argon2id memory cost in KiB (config.auth.passwordHashMemoryKib). */
  memoryKib: number;
}

export function createPasswordHasher(options: PasswordHasherOptions) {
  const params = { type: argon2.argon2id, memoryCost: options.memoryKib, timeCost: 3, parallelism: 4 } as const;
  // Unknown e-mails and SSO-only users are checked against this hash, made with the same
  // parameters, so the answer takes as long as for a real account (no enumeration by timing).
  let dummy: Promise<string> | null = null;
  const dummyHash = (): Promise<string> => (dummy ??= argon2.hash(randomBytes(32).toString('base64url'), params));

  return {
    hash(password: string): Promise<string> {
      return argon2.hash(password, params);
    },

    /** True only for a stored hash that matches. A null hash still costs one verification. */
    async verify(storedHash: string | null, password: string): Promise<boolean> {
      if (storedHash === null) {
        await argon2.verify(await dummyHash(), password).catch(() => false);
        return false;
      }
      try {
        return await argon2.verify(storedHash, password);
      } catch {
        return false; // a malformed stored hash is a failed sign-in, not a 500
      }
    },

    /** True when a stored hash was made with other parameters (re-hash it after a good sign-in). */
    needsRehash(storedHash: string): boolean {
      try {
        return argon2.needsRehash(storedHash, { memoryCost: params.memoryCost, timeCost: params.timeCost, parallelism: params.parallelism });
      } catch {
        return true;
      }
    },
  };
}

export type PasswordHasher = ReturnType<typeof createPasswordHasher>;
