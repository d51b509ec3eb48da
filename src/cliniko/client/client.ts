// The Cliniko API client. One keep-alive undici Pool per shard origin; every call is a GET with a
// deadline. What makes it calm when Cliniko is not:
// - retries with backoff and jitter, only for GETs, only on network errors and 5xx, never past the
//   deadline;
// - a per-API-key limiter that stays under Cliniko's 200 requests a minute (requests wait for a slot),
//   and a 429 makes every request of that key wait until `X-RateLimit-Reset`;
// - concurrent getPatient calls for one (key, id) share a single upstream request;
// - every failure is a ClinikoError whose `kind` the patient page can act on and whose message an
//   admin can read. No message ever contains the API key.
// The maths (backoff, reset wait, limiter slot) are small pure functions exported for tests.
import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { apiBaseForShard, shardFromApiKey } from '../shard.ts';
import type { ClinikoPatient, ClinikoSettings, ClinikoUser } from '../types.ts';

// ---------------------------------------------------------------------------------------------
// Errors

export type ClinikoErrorKind =
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'rate_limited'
  | 'unavailable'
  | 'timeout'
  | 'bad_response'
  | 'invalid_key';

/** Default messages, written for a clinic admin. */
export const CLINIKO_ERROR_MESSAGES: Readonly<Record<ClinikoErrorKind, string>> = {
  unauthorized: 'Cliniko refused the API key: the key is wrong, revoked, or belongs to another shard.',
  forbidden: "Cliniko refused the request: the Cliniko user who created the API key is not allowed to see this (check that user's role in Cliniko).",
  not_found: 'Cliniko has no such record.',
  rate_limited: 'Cliniko is limiting requests made with this API key (too many in the last minute). Try again shortly.',
  unavailable: 'Cliniko is not answering properly right now (network or server error). Try again shortly.',
  timeout: 'Cliniko did not answer in time.',
  bad_response: 'Cliniko sent an answer Sidechart could not read.',
  invalid_key: 'This is not a valid Cliniko API key.',
};

export class ClinikoError extends Error {
  readonly kind: ClinikoErrorKind;
  /** The HTTP status Cliniko answered with, when it answered. */
  readonly upstreamStatus: number | undefined;
  /** For rate_limited: when Cliniko said the limit resets (epoch ms), when known. */
  readonly retryAt: number | undefined;

  constructor(kind: ClinikoErrorKind, message?: string, details: { upstreamStatus?: number; retryAt?: number } = {}) {
    super(message ?? CLINIKO_ERROR_MESSAGES[kind]);
    this.name = 'ClinikoError';
    this.kind = kind;
    this.upstreamStatus = details.upstreamStatus;
    this.retryAt = details.retryAt;
  }

  // Only what we chose to say: no cause, no request, no headers (they would carry the key).
  toJSON(): { name: string; kind: ClinikoErrorKind; message: string; upstreamStatus?: number; retryAt?: number } {
    return {
      name: this.name,
      kind: this.kind,
      message: this.message,
      ...(this.upstreamStatus !== undefined ? { upstreamStatus: this.upstreamStatus } : {}),
      ...(this.retryAt !== undefined ? { retryAt: this.retryAt } : {}),
    };
  }
}

export function isClinikoError(error: unknown): error is ClinikoError {
  return error instanceof ClinikoError;
}

// ---------------------------------------------------------------------------------------------
// Pure maths

export interface BackoffOptions {
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * Delay before retry number `retry` (1 for the first retry): exponential, capped, with "equal
 * jitter" (half fixed, half random) so that clients that failed together do not retry together
 * while the delay still grows. `random` is in [0, 1).
 */
export function backoffDelayMs(retry: number, options: BackoffOptions, random: number): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.round(ceiling / 2 + (random * ceiling) / 2);
}

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

// ---------------------------------------------------------------------------------------------
// JSON with exact IDs

/**
 * Parses Cliniko JSON keeping every ID a string. Cliniko sends 64-bit IDs as strings already; older
 * shards send small numbers. A number under a key named `id` or `*_id`, and any integer too large
 * for a double, is replaced by its exact source text (JSON.parse source access, Node >= 21).
 */
export function parseClinikoJson(text: string): unknown {
  return JSON.parse(text, function reviver(this: unknown, key: string, value: unknown, context?: { source?: string }) {
    if (typeof value !== 'number' || context?.source === undefined) return value;
    const idKey = key === 'id' || key.endsWith('_id');
    if (idKey || (Number.isInteger(value) && !Number.isSafeInteger(value))) {
      return /^-?\d+$/.test(context.source) ? context.source : value;
    }
    return value;
  });
}

// ---------------------------------------------------------------------------------------------
// The client

export interface ClinikoClientOptions {
  /** Base URL template with `{shard}`, e.g. `https://api.{shard}.cliniko.com/v1`. */
  apiBase: string;
  /** Sent in `User-Agent: Sidechart (<contactEmail>)`, as Cliniko requires. */
  contactEmail: string;
  appName?: string;
  /** TCP/TLS connect timeout (default 3000 ms). */
  connectTimeoutMs?: number;
  /** Time to wait for response headers once the request is sent (default 10000 ms). */
  headersTimeoutMs?: number;
  /** Maximum idle time between body chunks (default 10000 ms). */
  bodyTimeoutMs?: number;
  /** Deadline of a call when the caller gives none, retries and waits included (default 10000 ms). */
  defaultDeadlineMs?: number;
  /** Total tries for network errors and 5xx, first one included (default 3). */
  maxAttempts?: number;
  /** Backoff between those tries (default 100 ms growing to at most 2000 ms). */
  backoff?: BackoffOptions;
  /** How many 429s one call may wait out before failing as rate_limited (default 5). */
  maxRateLimitWaits?: number;
  /**
   * Per-API-key budget (default 190 per 60 s: under Cliniko's 200 a minute). `marginMs` widens our
   * window (default a tenth of it, at most 1 s): Cliniko counts arrivals, and a batch sent exactly
   * one window after the previous one can arrive inside Cliniko's window when latency varies.
   */
  rateLimit?: { limit: number; windowMs: number; marginMs?: number };
  /** Keep-alive connections per shard origin (default 8). */
  connectionsPerOrigin?: number;
  /** Largest response body accepted (default 2 MiB). */
  maxResponseBytes?: number;
  /** Injectable for tests of jitter. */
  random?: () => number;
}

export interface CallOptions {
  /** Give up after this long, retries and rate-limit waits included. */
  deadlineMs?: number;
  /** Abort from the caller (e.g. the browser went away). */
  signal?: AbortSignal;
}

export type ClinikoClient = ReturnType<typeof createClinikoClient>;

/** What one upstream call needs to know about the callers waiting for it. */
interface CallContext {
  /** Latest deadline among the callers still waiting (epoch ms). */
  deadlineAt(): number;
  /** Aborted when every caller has given up. */
  signal: AbortSignal;
}

/** One upstream operation that several callers may wait for (see `join`). */
interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  /** The latest deadline of the callers that joined; later retries and waits may use it. */
  deadline: { at: number };
  waiters: number;
}

type QueryPairs = ReadonlyArray<readonly [string, string]>;

const PATIENT_ID = /^[1-9][0-9]{0,18}$/;
/** Added to a 429's reset time: our clock and Cliniko's may differ slightly. */
const RESET_MARGIN_MS = 50;

export function createClinikoClient(options: ClinikoClientOptions) {
  const settings = {
    apiBase: options.apiBase,
    appName: options.appName ?? 'Sidechart',
    connectTimeoutMs: options.connectTimeoutMs ?? 3_000,
    headersTimeoutMs: options.headersTimeoutMs ?? 10_000,
    bodyTimeoutMs: options.bodyTimeoutMs ?? 10_000,
    defaultDeadlineMs: options.defaultDeadlineMs ?? 10_000,
    maxAttempts: options.maxAttempts ?? 3,
    backoff: options.backoff ?? { baseDelayMs: 100, maxDelayMs: 2_000 },
    maxRateLimitWaits: options.maxRateLimitWaits ?? 5,
    rateLimit: options.rateLimit ?? { limit: 190, windowMs: 60_000 },
    connectionsPerOrigin: options.connectionsPerOrigin ?? 8,
    maxResponseBytes: options.maxResponseBytes ?? 2 * 1024 * 1024,
  };
  const random = options.random ?? Math.random;
  // A header value cannot carry line breaks; parentheses would garble the User-Agent comment.
  if (!/^[^\s()<>@,;:\\"]+@[^\s()<>@,;:\\"]+$/.test(options.contactEmail)) {
    throw new Error('createClinikoClient: contactEmail must be a plain e-mail address');
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/.test(settings.appName)) throw new Error('createClinikoClient: invalid appName');
  apiBaseForShard(settings.apiBase, 'au1'); // fail at construction on a bad template
  const userAgent = `${settings.appName} (${options.contactEmail})`;

  const pools = new Map<string, Pool>();
  const limiter = createKeyLimiter(settings.rateLimit);
  const patientFlights = new Map<string, Flight<ClinikoPatient>>();
  let closed = false;

  function poolFor(origin: string): Pool {
    let pool = pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, {
        connections: settings.connectionsPerOrigin,
        connectTimeout: settings.connectTimeoutMs,
        headersTimeout: settings.headersTimeoutMs,
        bodyTimeout: settings.bodyTimeoutMs,
        allowH2: false,
        connect: { lookup: localhostLookup },
      });
      pools.set(origin, pool);
    }
    return pool;
  }

  /** GET `path` (relative to the shard's base) and parse the JSON body; retries, waits, classifies. */
  async function getJson(apiKey: string, path: string, query: QueryPairs, ctx: CallContext): Promise<unknown> {
    if (closed) throw new ClinikoError('unavailable', 'The Cliniko client has been shut down.');
    const shard = shardFromApiKey(apiKey);
    if (!shard.ok) throw new ClinikoError('invalid_key', `${CLINIKO_ERROR_MESSAGES.invalid_key} ${shard.reason}`);
    const base = new URL(apiBaseForShard(settings.apiBase, shard.shard));
    const search = query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
    const requestPath = `${base.pathname.replace(/\/$/, '')}${path}${search === '' ? '' : `?${search}`}`;
    const headers = {
      accept: 'application/json',
      'user-agent': userAgent,
      authorization: `Basic ${Buffer.from(`${apiKey}:`).toString('base64')}`,
    };
    const pool = poolFor(base.origin);

    let failures = 0;
    let rateLimitWaits = 0;
    for (;;) {
      await waitForSlot(apiKey, ctx);
      const remaining = ctx.deadlineAt() - Date.now();
      if (remaining <= 0) throw new ClinikoError('timeout');
      const attemptSignal = AbortSignal.any([ctx.signal, AbortSignal.timeout(remaining)]);

      let failure: ClinikoError;
      try {
        const response = await pool.request({ method: 'GET', path: requestPath, headers, signal: attemptSignal });
        const status = response.statusCode;
        if (status >= 200 && status < 300) return await readJson(response);
        await response.body.dump().catch(() => undefined);

        if (status === 429) {
          const wait = rateLimitWaitMs({ reset: header(response, 'x-ratelimit-reset'), retryAfter: header(response, 'retry-after') }, Date.now());
          const retryAt = Date.now() + (wait ?? backoffDelayMs(rateLimitWaits + 1, settings.backoff, random())) + RESET_MARGIN_MS;
          limiter.pause(apiKey, retryAt); // every request of this key waits, not just this one
          rateLimitWaits += 1;
          if (rateLimitWaits > settings.maxRateLimitWaits || retryAt >= ctx.deadlineAt()) {
            throw new ClinikoError('rate_limited', undefined, { upstreamStatus: 429, retryAt });
          }
          continue; // waitForSlot sleeps until retryAt
        }
        if (status < 500) throw statusError(status);
        failure = new ClinikoError('unavailable', undefined, { upstreamStatus: status });
      } catch (error) {
        if (error instanceof ClinikoError) {
          if (error.kind !== 'unavailable' && error.kind !== 'timeout') throw error;
          failure = error;
        } else {
          failure = classifyNetworkError(error, ctx.signal);
          if (ctx.signal.aborted) throw failure;
        }
      }

      // Network error or 5xx: a GET is safe to repeat, within the attempt budget and the deadline.
      failures += 1;
      if (failures >= settings.maxAttempts) throw failure;
      const delay = backoffDelayMs(failures, settings.backoff, random());
      if (Date.now() + delay >= ctx.deadlineAt()) throw failure;
      await abortableSleep(delay, ctx.signal);
    }
  }

  async function waitForSlot(apiKey: string, ctx: CallContext): Promise<void> {
    const slot = limiter.reserve(apiKey, ctx.deadlineAt());
    if (!slot.granted) throw new ClinikoError('rate_limited', undefined, { retryAt: slot.at });
    const wait = slot.at - Date.now();
    if (wait > 0) await abortableSleep(wait, ctx.signal);
  }

  async function readJson(response: Dispatcher.ResponseData): Promise<unknown> {
    const declared = Number(header(response, 'content-length') ?? '0');
    if (declared > settings.maxResponseBytes) {
      response.body.destroy();
      throw new ClinikoError('bad_response', 'Cliniko sent an answer too large to read.');
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body) {
      const buffer = chunk as Buffer;
      size += buffer.length;
      if (size > settings.maxResponseBytes) {
        response.body.destroy();
        throw new ClinikoError('bad_response', 'Cliniko sent an answer too large to read.');
      }
      chunks.push(buffer);
    }
    try {
      return parseClinikoJson(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new ClinikoError('bad_response', undefined, { upstreamStatus: response.statusCode });
    }
  }

  /** Runs `work` for one caller, bounded by the caller's deadline and signal. */
  function single<T>(callOptions: CallOptions, work: (ctx: CallContext) => Promise<T>): Promise<T> {
    const deadlineAt = deadlineFor(callOptions);
    return join(startFlight(deadlineAt, work), deadlineAt, callOptions.signal);
  }

  function deadlineFor(callOptions: CallOptions): number {
    return Date.now() + (callOptions.deadlineMs ?? settings.defaultDeadlineMs);
  }

  async function fetchPatient(apiKey: string, id: string, ctx: CallContext): Promise<ClinikoPatient> {
    try {
      return expectPatient(await getJson(apiKey, `/patients/${id}`, [], ctx), id);
    } catch (error) {
      if (!(error instanceof ClinikoError && error.kind === 'not_found')) throw error;
    }
    // Whether Cliniko hides archived patients from GET /patients/{id} is unconfirmed: ask the list,
    // whose `archived_at:*` filter is documented to include them.
    const page = await getJson(apiKey, '/patients', [['q[]', `id:=${id}`], ['q[]', 'archived_at:*']], ctx);
    const patients: unknown = isRecord(page) ? page.patients : undefined;
    if (!Array.isArray(patients)) throw new ClinikoError('bad_response');
    const found = patients.find((p: unknown) => isRecord(p) && p.id === id) as ClinikoPatient | undefined;
    if (found === undefined) throw new ClinikoError('not_found', 'Cliniko has no patient with this ID, archived or not.', { upstreamStatus: 404 });
    return found;
  }

  return {
    /**
     * The patient with this Cliniko ID (archived ones included). Concurrent calls for the same key
     * and ID share one upstream request. `id` must be decimal digits (see patients/patient-id.ts).
     */
    getPatient(apiKey: string, id: string, callOptions: CallOptions = {}): Promise<ClinikoPatient> {
      if (!PATIENT_ID.test(id)) return Promise.reject(new TypeError('getPatient: id must be 1 to 19 decimal digits'));
      const deadlineAt = deadlineFor(callOptions);
      const flightKey = `${apiKey}\n${id}`;
      let flight = patientFlights.get(flightKey);
      // A flight every caller has left is being torn down: start afresh rather than join it.
      if (flight === undefined || flight.controller.signal.aborted) {
        const started = startFlight(deadlineAt, (ctx) => fetchPatient(apiKey, id, ctx));
        const forget = (): void => {
          if (patientFlights.get(flightKey) === started) patientFlights.delete(flightKey);
        };
        started.promise.then(forget, forget);
        patientFlights.set(flightKey, started);
        flight = started;
      }
      return join(flight, deadlineAt, callOptions.signal);
    },

    /** The Cliniko user who owns the key: a cheap way to verify a key. */
    getUser(apiKey: string, callOptions: CallOptions = {}): Promise<ClinikoUser> {
      return single(callOptions, async (ctx) => {
        const user = await getJson(apiKey, '/user', [], ctx);
        if (!isRecord(user) || typeof user.id !== 'string') throw new ClinikoError('bad_response');
        return user as ClinikoUser;
      });
    },

    /** Account settings; `account.id` and `account.subdomain` identify the clinic behind the key. */
    getSettings(apiKey: string, callOptions: CallOptions = {}): Promise<ClinikoSettings> {
      return single(callOptions, async (ctx) => {
        const body = await getJson(apiKey, '/settings', [], ctx);
        if (!isRecord(body) || !isRecord(body.account) || typeof body.account.id !== 'string') throw new ClinikoError('bad_response');
        return body as ClinikoSettings;
      });
    },

    /** Closes every pool, letting requests in flight finish. */
    async close(): Promise<void> {
      closed = true;
      const all = [...pools.values()];
      pools.clear();
      await Promise.all(all.map((pool) => pool.close()));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** Starts `work` now; callers attach with `join`. Aborted once every caller has left. */
function startFlight<T>(deadlineAt: number, work: (ctx: CallContext) => Promise<T>): Flight<T> {
  const controller = new AbortController();
  const deadline = { at: deadlineAt };
  const promise = work({ deadlineAt: () => deadline.at, signal: controller.signal });
  promise.catch(() => undefined); // a flight whose callers all left must not be an unhandled rejection
  return { promise, controller, deadline, waiters: 0 };
}

/** Waits for a flight until this caller's own deadline (epoch ms) or signal, whichever is first. */
function join<T>(flight: Flight<T>, deadlineAt: number, signal: AbortSignal | undefined): Promise<T> {
  flight.deadline.at = Math.max(flight.deadline.at, deadlineAt);
  flight.waiters += 1;

  return new Promise<T>((resolve, reject) => {
    let done = false;
    const finish = (settle: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      flight.waiters -= 1;
      settle();
    };
    const leave = (error: ClinikoError): void => {
      finish(() => reject(error));
      if (flight.waiters === 0) flight.controller.abort();
    };
    const onAbort = (): void => leave(new ClinikoError('timeout', 'The request to Cliniko was cancelled.'));
    const timer = setTimeout(() => leave(new ClinikoError('timeout')), Math.max(0, deadlineAt - Date.now()));
    if (signal?.aborted === true) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    flight.promise.then(
      (value) => finish(() => resolve(value)),
      (error: unknown) => finish(() => reject(error)),
    );
  });
}

/** Sliding-log limiter per API key (see nextRequestSlot). */
function createKeyLimiter(budget: { limit: number; windowMs: number; marginMs?: number }) {
  if (!(budget.limit >= 1 && budget.windowMs > 0)) throw new Error('createClinikoClient: invalid rateLimit');
  const options = { limit: budget.limit, windowMs: budget.windowMs + (budget.marginMs ?? Math.min(1_000, Math.round(budget.windowMs / 10))) };
  const keys = new Map<string, { starts: number[]; pausedUntil: number }>();
  let lastSweep = Date.now();

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
    pause(key: string, until: number): void {
      const state = keys.get(key) ?? { starts: [], pausedUntil: 0 };
      state.pausedUntil = Math.max(state.pausedUntil, until);
      keys.set(key, state);
    },
  };
}

function statusError(status: number): ClinikoError {
  if (status === 401) return new ClinikoError('unauthorized', undefined, { upstreamStatus: status });
  if (status === 403) return new ClinikoError('forbidden', undefined, { upstreamStatus: status });
  if (status === 404) return new ClinikoError('not_found', undefined, { upstreamStatus: status });
  return new ClinikoError('bad_response', `Cliniko rejected the request (HTTP ${status}).`, { upstreamStatus: status });
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** A thrown network error, as a ClinikoError; the original is dropped (it may hold request details). */
function classifyNetworkError(error: unknown, callSignal: AbortSignal): ClinikoError {
  if (callSignal.aborted) return new ClinikoError('timeout', 'The request to Cliniko was cancelled.');
  const name = error instanceof Error ? error.name : '';
  const code = typeof error === 'object' && error !== null ? String((error as { code?: unknown }).code ?? '') : '';
  if (name === 'TimeoutError' || name === 'AbortError' || TIMEOUT_CODES.has(code)) return new ClinikoError('timeout');
  return new ClinikoError('unavailable');
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => {
    throw new ClinikoError('timeout', 'The request to Cliniko was cancelled.');
  });
}

function header(response: Dispatcher.ResponseData, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function expectPatient(body: unknown, id: string): ClinikoPatient {
  // The ID must come back exactly as asked: a mismatch means a wrong record or a lossy parse.
  if (!isRecord(body) || body.id !== id) throw new ClinikoError('bad_response');
  return body as ClinikoPatient;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * DNS lookup for the pools: `*.localhost` is loopback (RFC 6761, as browsers do), which lets the
 * simulator be addressed as `api.<shard>.cliniko.localhost`. Everything else goes to the resolver.
 */
export function localhostLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) {
    if (options.all === true) callback(null, [{ address: '127.0.0.1', family: 4 }]);
    else callback(null, '127.0.0.1', 4);
    return;
  }
  dnsLookup(hostname, options, (err, address, family) => callback(err, address, family));
}
