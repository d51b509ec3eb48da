// Server-side session lifetimes (pure): an idle timeout since the last request and an absolute
// timeout since sign-in, both per clinic. `seenAt` is written back only when it has aged, so a
// signed-in request normally costs no write.

export interface SessionTimes {
  signedInAt: unknown;
  seenAt: unknown;
}

export interface Timeouts {
  idleMs: number;
  absoluteMs: number;
}

export type SessionVerdict =
  | { state: 'active'; touch: false }
  /** Active, and seenAt should be written back (with the new expiry). */
  | { state: 'active'; touch: true; seenAt: number; expiresAt: number }
  | { state: 'expired'; reason: 'idle' | 'absolute' | 'invalid' };

/** A write at most once a minute, sooner for short idle timeouts so they stay accurate. */
export function touchIntervalMs(idleMs: number): number {
  return Math.min(60_000, Math.floor(idleMs / 10));
}

/** When a session with these times ends, if nothing else happens. */
export function expiresAt(times: { signedInAt: number; seenAt: number }, timeouts: Timeouts): number {
  return Math.min(times.seenAt + timeouts.idleMs, times.signedInAt + timeouts.absoluteMs);
}

export function judgeSession(times: SessionTimes, timeouts: Timeouts, now: number): SessionVerdict {
  const { signedInAt, seenAt } = times;
  if (typeof signedInAt !== 'number' || typeof seenAt !== 'number' || !Number.isFinite(signedInAt) || !Number.isFinite(seenAt)) {
    return { state: 'expired', reason: 'invalid' };
  }
  if (now - signedInAt >= timeouts.absoluteMs) return { state: 'expired', reason: 'absolute' };
  // Another instance's clock may be a little ahead: a seenAt in the future counts as now.
  const lastSeen = Math.min(seenAt, now);
  if (now - lastSeen >= timeouts.idleMs) return { state: 'expired', reason: 'idle' };
  if (now - lastSeen < touchIntervalMs(timeouts.idleMs)) return { state: 'active', touch: false };
  return { state: 'active', touch: true, seenAt: now, expiresAt: expiresAt({ signedInAt, seenAt: now }, timeouts) };
}
