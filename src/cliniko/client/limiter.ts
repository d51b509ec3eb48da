// The per-API-key budget that keeps Sidechart under Cliniko's 200 requests a minute: a sliding log of
// start times per key, and the pause a 429 puts on every request of that key. A request is given
// its start time when it asks, so one whose slot lies past its deadline fails at once.
//
// Not rate-limiter-flexible's RateLimiterQueue (over RateLimiterMemory): its windows are fixed and
// open at a key's first request, so a full budget spent at the end of one window and another at the
// start of the next put twice the budget within one minute, and Cliniko answers 429. And its queue
// only learns that a token is free when a timer fires: it cannot tell a request up front when it
// would start, so a request that cannot start before its deadline waits in the queue (its
// `expiresUnixAt` has whole-second precision and is checked only when the queue runs) instead of
// failing at once as rate_limited.
// The slot and 429 maths are pure functions, exported for table-driven tests.

/**
 * How long a 429 asks us to wait, in ms from `now`: from `X-RateLimit-Reset` (UNIX seconds, as
 * documented), else from `Retry-After` (seconds or an HTTP date; not documented by Cliniko but
 * standard). undefined when neither header is usable. A reset in the past means "now" (0).
 */
export function rateLimitWaitMs(headers: { reset?: string | undefined; retryAfter?: string | undefined }, now: number): number | undefined {
  const reset = headers.reset?.trim();
  if (reset !== undefined && /^\d{1,12}(\.\d{1,6})?$/.test(reset)) {
    return Math.max(0, Math.ceil(Number(reset) * 1000 - now));
  }
  const retryAfter = headers.retryAfter?.trim();
  if (retryAfter !== undefined && retryAfter !== '') {
    if (/^\d{1,9}$/.test(retryAfter)) return Number(retryAfter) * 1000;
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  return undefined;
}

export interface SlotInput {
  /** Start times already granted for this key (epoch ms, ascending; may lie in the future). */
  starts: readonly number[];
  now: number;
  limit: number;
  windowMs: number;
  /** After a 429: no request before this time. */
  pausedUntil: number;
}

/**
 * The earliest time a new request may start so that no window of `windowMs` holds more than
 * `limit` starts (a sliding log). Successive results never decrease, so granting them in call
 * order keeps `starts` sorted and the queue fair.
 */
export function nextRequestSlot(input: SlotInput): number {
  const { starts, now, limit, windowMs, pausedUntil } = input;
  let slot = Math.max(now, pausedUntil);
  const nth = starts.length >= limit ? starts[starts.length - limit] : undefined;
  if (nth !== undefined) slot = Math.max(slot, nth + windowMs);
  return slot;
}

export interface RateLimitBudget {
  limit: number;
  windowMs: number;
  /** Widens the window (default a tenth of it, at most 1 s); see ClinikoClientOptions.rateLimit. */
  marginMs?: number;
}

export type KeyLimiter = ReturnType<typeof createKeyLimiter>;

/** Sliding-log limiter per API key (see nextRequestSlot). */
export function createKeyLimiter(budget: RateLimitBudget) {
  if (!(budget.limit >= 1 && budget.windowMs > 0)) throw new Error('createClinikoClient: invalid rateLimit');
  const options = { limit: budget.limit, windowMs: budget.windowMs + (budget.marginMs ?? Math.min(1_000, Math.round(budget.windowMs / 10))) };
  const keys = new Map<string, { starts: number[]; pausedUntil: number }>();
  let lastSweep = Date.now();

  // Keys of clinics that stopped calling would otherwise stay in memory for ever.
  function sweep(now: number): void {
    if (now - lastSweep < options.windowMs) return;
    lastSweep = now;
    for (const [key, state] of keys) {
      const last = state.starts[state.starts.length - 1] ?? 0;
      if (last <= now - options.windowMs && state.pausedUntil <= now) keys.delete(key);
    }
  }

  return {
    /** The next start time for this key; granted (and counted) only if not after `notAfter`. */
    reserve(key: string, notAfter: number): { granted: boolean; at: number } {
      const now = Date.now();
      sweep(now);
      let state = keys.get(key);
      if (state === undefined) {
        state = { starts: [], pausedUntil: 0 };
        keys.set(key, state);
      }
      const expired = state.starts.findIndex((t) => t > now - options.windowMs);
      state.starts.splice(0, expired === -1 ? state.starts.length : expired);
      const slot = nextRequestSlot({ starts: state.starts, now, limit: options.limit, windowMs: options.windowMs, pausedUntil: state.pausedUntil });
      if (slot > notAfter) return { granted: false, at: slot };
      state.starts.push(slot);
      return { granted: true, at: slot };
    },

    /** After a 429: no request of this key starts before `until` (epoch ms). */
    pause(key: string, until: number): void {
      const state = keys.get(key) ?? { starts: [], pausedUntil: 0 };
      state.pausedUntil = Math.max(state.pausedUntil, until);
      keys.set(key, state);
    },
  };
}
