// Password sign-in throttling, per account (clinic + e-mail) and per client address, with
// exponential backoff, in PostgreSQL (rate-limiter-flexible) so that every app instance sees the
// same counts. Failures are counted in a window; the failure that reaches the limit locks the key
// for a while, and each further lock within a day lasts twice as long (up to a cap). While a key is
// locked every attempt is refused before the password is even checked, right or wrong.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';

export interface BackoffPolicy {
  /** Failures counted within this window. */
  windowSeconds: number;
  /** First lock; doubled for each further lock within LOCKOUT_MEMORY_SECONDS. */
  baseLockSeconds: number;
  maxLockSeconds: number;
}

export const ACCOUNT_POLICY: BackoffPolicy = { windowSeconds: 15 * 60, baseLockSeconds: 60, maxLockSeconds: 60 * 60 };
export const ADDRESS_POLICY: BackoffPolicy = { windowSeconds: 60 * 60, baseLockSeconds: 5 * 60, maxLockSeconds: 6 * 60 * 60 };
const LOCKOUT_MEMORY_SECONDS = 24 * 60 * 60;

/** How long the n-th lock (1-based) within a day lasts. */
export function lockSeconds(lockNumber: number, policy: Pick<BackoffPolicy, 'baseLockSeconds' | 'maxLockSeconds'>): number {
  const n = Math.max(1, Math.floor(lockNumber));
  // 2 ** 30 is already past any cap; avoid Infinity for absurd counts.
  return Math.min(policy.baseLockSeconds * 2 ** Math.min(n - 1, 30), policy.maxLockSeconds);
}

export interface SignInAttempt {
  tenantId: string;
  /** As typed (normalized here), known user or not. */
  email: string;
  ip: string;
}

export interface LoginThrottleOptions {
  /** The control-plane pool (the table is control.login_throttle). */
  pool: pg.Pool;
  maxFailuresPerAccount: number;
  maxFailuresPerIp: number;
}

/** Account keys are hashed: the control plane holds no clinic's e-mail addresses. */
function accountKey(attempt: SignInAttempt): string {
  const digest = createHash('sha256').update(`${attempt.tenantId}\n${attempt.email.trim().toLowerCase()}`).digest('base64url');
  return `${attempt.tenantId}:${digest}`;
}

function isLimiterResult(value: unknown): value is RateLimiterRes {
  return value instanceof RateLimiterRes;
}

export function createLoginThrottle(options: LoginThrottleOptions) {
  // Unnamed statements only: the library names its prepared statements, which PgBouncer in
  // transaction mode (our deployment) cannot route to the connection that prepared them.
  const storeClient = {
    query: (q: { text: string; values?: unknown[] }) => options.pool.query({ text: q.text, values: q.values ?? [] }),
  };
  const limiter = (keyPrefix: string, points: number, duration: number, sweep = false) =>
    new RateLimiterPostgres({
      storeClient,
      storeType: 'client',
      schemaName: 'control',
      tableName: 'login_throttle',
      tableCreated: true, // migrations/control/0002_login_throttle.ts
      clearExpiredByTimeout: sweep, // one sweeper per instance is enough: they share the table
      keyPrefix,
      points,
      duration,
    });

  const kinds = [
    {
      name: 'account' as const,
      key: accountKey,
      limit: options.maxFailuresPerAccount,
      policy: ACCOUNT_POLICY,
      failures: limiter('login_acct', options.maxFailuresPerAccount, ACCOUNT_POLICY.windowSeconds, true),
      locks: limiter('login_lock_acct', 1_000_000, LOCKOUT_MEMORY_SECONDS),
    },
    {
      name: 'address' as const,
      key: (attempt: SignInAttempt) => attempt.ip,
      limit: options.maxFailuresPerIp,
      policy: ADDRESS_POLICY,
      failures: limiter('login_ip', options.maxFailuresPerIp, ADDRESS_POLICY.windowSeconds),
      locks: limiter('login_lock_ip', 1_000_000, LOCKOUT_MEMORY_SECONDS),
    },
  ];

  return {
    /** Seconds until this attempt may be made, or null when it may be made now. */
    async lockedFor(attempt: SignInAttempt): Promise<{ seconds: number; by: 'account' | 'address' } | null> {
      const states = await Promise.all(kinds.map(async (kind) => ({ kind, res: await kind.failures.get(kind.key(attempt)) })));
      let worst: { seconds: number; by: 'account' | 'address' } | null = null;
      for (const { kind, res } of states) {
        if (res === null || res.consumedPoints <= kind.limit) continue;
        const seconds = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
        if (worst === null || seconds > worst.seconds) worst = { seconds, by: kind.name };
      }
      return worst;
    },

    /** Counts a failed attempt; the one that reaches a limit locks that key with backoff. */
    async recordFailure(attempt: SignInAttempt): Promise<void> {
      await Promise.all(
        kinds.map(async (kind) => {
          const key = kind.key(attempt);
          let res: RateLimiterRes;
          try {
            res = await kind.failures.consume(key);
          } catch (error) {
            if (!isLimiterResult(error)) throw error;
            res = error; // already past the limit (a concurrent attempt is locking it)
          }
          if (res.consumedPoints !== kind.limit) return;
          let lockNumber = 1;
          try {
            lockNumber = (await kind.locks.consume(key)).consumedPoints;
          } catch (error) {
            if (!isLimiterResult(error)) throw error;
            lockNumber = error.consumedPoints;
          }
          await kind.failures.block(key, lockSeconds(lockNumber, kind.policy));
        }),
      );
    },

    /** A correct password clears the account's count (never the address's). */
    async recordSuccess(attempt: SignInAttempt): Promise<void> {
      const account = kinds[0]!;
      await Promise.all([account.failures.delete(account.key(attempt)), account.locks.delete(account.key(attempt))]);
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
