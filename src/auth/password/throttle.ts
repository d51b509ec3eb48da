// Password sign-in throttling, in PostgreSQL (rate-limiter-flexible, control.login_throttle) so
// that every app instance sees the same counts. The policy, for one clinic:
//
//   account + address   hard: LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS (5) in 15 minutes, then that
//                       address may not try that account for 1 minute, doubling with each further
//                       lock within a day up to 1 hour. This is what stops one guesser.
//   account             soft: LOGIN_MAX_FAILURES_PER_ACCOUNT (20) in 15 minutes from any addresses,
//                       then 30 seconds, doubling up to 5 minutes. It slows a guesser who spreads
//                       over many addresses, yet a stranger can never lock a clinician out of a
//                       working day: from the clinician's own address the hard limit is not theirs
//                       to reach, and this one holds for minutes at most.
//   address             LOGIN_MAX_FAILURES_PER_IP (100) an hour at this clinic, whatever the
//                       account (password spraying), then 5 minutes doubling up to 6 hours.
//                       IPv6 addresses count by their /64 (one host owns a whole /64), IPv4 by
//                       address; another clinic's failures never count here.
//
// Every attempt is counted before its password is checked, atomically (one upsert per key), and
// given back when the password was right: so fifty attempts sent at once are fifty counts, and only
// those within the limits are ever verified. While a key is over its limit every attempt is refused
// before the password is looked at, right or wrong.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type pg from 'pg';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';

export interface BackoffPolicy {
  /** Failures counted within this window. */
  windowSeconds: number;
  /** First lock; doubled for each further lock within LOCKOUT_MEMORY_SECONDS. */
  baseLockSeconds: number;
  maxLockSeconds: number;
}

export const PAIR_POLICY: BackoffPolicy = { windowSeconds: 15 * 60, baseLockSeconds: 60, maxLockSeconds: 60 * 60 };
export const ACCOUNT_POLICY: BackoffPolicy = { windowSeconds: 15 * 60, baseLockSeconds: 30, maxLockSeconds: 5 * 60 };
export const ADDRESS_POLICY: BackoffPolicy = { windowSeconds: 60 * 60, baseLockSeconds: 5 * 60, maxLockSeconds: 6 * 60 * 60 };
const LOCKOUT_MEMORY_SECONDS = 24 * 60 * 60;

export type ThrottleKind = 'pair' | 'account' | 'address';

/** How long the n-th lock (1-based) within a day lasts. */
export function lockSeconds(lockNumber: number, policy: Pick<BackoffPolicy, 'baseLockSeconds' | 'maxLockSeconds'>): number {
  const n = Math.max(1, Math.floor(lockNumber));
  // 2 ** 30 is already past any cap; avoid Infinity for absurd counts.
  return Math.min(policy.baseLockSeconds * 2 ** Math.min(n - 1, 30), policy.maxLockSeconds);
}

/**
 * What an address counts as: an IPv4 address itself, an IPv6 address by its /64 (the first four
 * groups), an IPv4-mapped IPv6 address as the IPv4 address. Anything else as it is.
 */
export function addressPrefix(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (isIP(ip) !== 6) return ip;
  const [head = '', tail] = ip.toLowerCase().split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
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
  maxFailuresPerAccountAndAddress: number;
  maxFailuresPerAccount: number;
  maxFailuresPerIp: number;
}

/** Account keys are hashed: the control plane holds no clinic's e-mail addresses. */
function accountDigest(attempt: SignInAttempt): string {
  return createHash('sha256').update(`${attempt.tenantId}\n${attempt.email.trim().toLowerCase()}`).digest('base64url');
}

function isLimiterResult(value: unknown): value is RateLimiterRes {
  return value instanceof RateLimiterRes;
}

/** What begin() says: go ahead (the attempt is counted), or wait this long. */
export type AttemptVerdict = { allowed: true } | { allowed: false; seconds: number; by: ThrottleKind };

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
      name: 'pair' as const,
      key: (a: SignInAttempt) => `${a.tenantId}:${accountDigest(a)}:${addressPrefix(a.ip)}`,
      limit: options.maxFailuresPerAccountAndAddress,
      policy: PAIR_POLICY,
      failures: limiter('login_pair', options.maxFailuresPerAccountAndAddress, PAIR_POLICY.windowSeconds, true),
      locks: limiter('login_lock_pair', 1_000_000, LOCKOUT_MEMORY_SECONDS),
      clearedBySuccess: true,
    },
    {
      name: 'account' as const,
      key: (a: SignInAttempt) => `${a.tenantId}:${accountDigest(a)}`,
      limit: options.maxFailuresPerAccount,
      policy: ACCOUNT_POLICY,
      failures: limiter('login_acct', options.maxFailuresPerAccount, ACCOUNT_POLICY.windowSeconds),
      locks: limiter('login_lock_acct', 1_000_000, LOCKOUT_MEMORY_SECONDS),
      clearedBySuccess: true,
    },
    {
      name: 'address' as const,
      key: (a: SignInAttempt) => `${a.tenantId}:${addressPrefix(a.ip)}`,
      limit: options.maxFailuresPerIp,
      policy: ADDRESS_POLICY,
      failures: limiter('login_ip', options.maxFailuresPerIp, ADDRESS_POLICY.windowSeconds),
      locks: limiter('login_lock_ip', 1_000_000, LOCKOUT_MEMORY_SECONDS),
      clearedBySuccess: false,
    },
  ];
  type Kind = (typeof kinds)[number];

  /** The first attempt past a limit locks the key, for longer with each lock that day. */
  async function lock(kind: Kind, key: string): Promise<number> {
    let lockNumber = 1;
    try {
      lockNumber = (await kind.locks.consume(key)).consumedPoints;
    } catch (error) {
      if (!isLimiterResult(error)) throw error;
      lockNumber = error.consumedPoints;
    }
    const seconds = lockSeconds(lockNumber, kind.policy);
    await kind.failures.block(key, seconds);
    return seconds;
  }

  return {
    /**
     * Counts the attempt under every key, before any password is checked. Refused (nothing stays
     * counted) when any key is over its limit; the attempt that first goes over locks that key.
     */
    async begin(attempt: SignInAttempt): Promise<AttemptVerdict> {
      const outcomes = await Promise.all(
        kinds.map(async (kind) => {
          const key = kind.key(attempt);
          try {
            await kind.failures.consume(key);
            return { kind, key, counted: true as const };
          } catch (error) {
            if (!isLimiterResult(error)) throw error;
            const seconds = error.consumedPoints === kind.limit + 1 ? await lock(kind, key) : Math.max(1, Math.ceil(error.msBeforeNext / 1000));
            return { kind, key, counted: false as const, seconds };
          }
        }),
      );
      let refused: { seconds: number; by: ThrottleKind } | null = null;
      for (const outcome of outcomes) {
        if (outcome.counted) continue;
        if (refused === null || outcome.seconds > refused.seconds) refused = { seconds: outcome.seconds, by: outcome.kind.name };
      }
      if (refused === null) return { allowed: true };
      // A refused attempt checks no password: give the other keys their count back.
      await Promise.all(outcomes.filter((o) => o.counted).map((o) => o.kind.failures.reward(o.key, 1)));
      return { allowed: false, ...refused };
    },

    /** The password was right: the attempt was no failure. Clears the account's counts and history. */
    async succeeded(attempt: SignInAttempt): Promise<void> {
      await Promise.all(
        kinds.map(async (kind) => {
          const key = kind.key(attempt);
          if (kind.clearedBySuccess) await Promise.all([kind.failures.delete(key), kind.locks.delete(key)]);
          else await kind.failures.reward(key, 1);
        }),
      );
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
