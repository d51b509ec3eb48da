// The Cliniko API client. One keep-alive undici Pool per shard origin; every call is a GET with a
// deadline. What makes it calm when Cliniko is not:
// - retries with backoff and jitter (backoff.ts), only for GETs, only on network errors and 5xx,
//   never past the deadline;
// - a per-API-key limiter that stays under Cliniko's 200 requests a minute (limiter.ts), and a 429
//   makes every request of that key wait until `X-RateLimit-Reset`;
// - concurrent getPatient calls for one (key, id) share a single upstream request (flights.ts);
// - every failure is a ClinikoError (errors.ts) whose `kind` the patient page can act on and whose
//   message an admin can read. No message ever contains the API key.
//
// The retries are this file's loop, not undici's retry interceptor: every try, retries included,
// must take a slot from the per-key limiter and may run until the flight's deadline, which grows
// as callers join. The interceptor re-sends inside the dispatcher, where neither is visible, waits
// without jitter, and would wait out a 429 on Retry-After alone, for that one request. A custom
// `retry` callback could reserve the slot, add the jitter and read the deadline, but that is this
// loop again; and 429s, which must pause the whole key, would still need a loop of ours around it
// with a second count of tries.
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { apiBaseForShard, shardFromApiKey } from '../shard.ts';
import type { ClinikoPatient, ClinikoSettings, ClinikoUser } from '../types.ts';
import { backoffDelayMs, type BackoffOptions } from './backoff.ts';
import { cancelledError, classifyNetworkError, CLINIKO_ERROR_MESSAGES, ClinikoError, statusError } from './errors.ts';
import { createSharedFlights, runAlone, type CallContext, type Caller } from './flights.ts';
import { parseClinikoJson } from './json.ts';
import { createKeyLimiter, rateLimitWaitMs, type RateLimitBudget } from './limiter.ts';
import { localhostLookup } from './localhost-lookup.ts';

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
  rateLimit?: RateLimitBudget;
  /** Keep-alive connections per shard origin (default 8). */
  connectionsPerOrigin?: number;
  /** Largest response body read (default 2 MiB); a longer one is dropped as it streams in (readJson). */
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
  const patientFlights = createSharedFlights<ClinikoPatient>();
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

  /**
   * The body as JSON. A body past maxResponseBytes is never held whole: a declared length over it
   * is refused unread, and a longer stream is dropped (connection and all) at the chunk that
   * crosses it. Either way the answer is bad_response, which is not retried: Cliniko would send
   * the same again.
   */
  async function readJson(response: Dispatcher.ResponseData): Promise<unknown> {
    const tooLarge = (): ClinikoError =>
      new ClinikoError('bad_response', `Cliniko sent an answer larger than ${settings.maxResponseBytes} bytes, which Sidechart does not read.`, {
        upstreamStatus: response.statusCode,
      });
    const declared = Number(header(response, 'content-length') ?? '0');
    if (declared > settings.maxResponseBytes) {
      response.body.destroy();
      throw tooLarge();
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body) {
      const buffer = chunk as Buffer;
      size += buffer.length;
      if (size > settings.maxResponseBytes) {
        response.body.destroy();
        throw tooLarge();
      }
      chunks.push(buffer);
    }
    try {
      return parseClinikoJson(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new ClinikoError('bad_response', undefined, { upstreamStatus: response.statusCode });
    }
  }

  function callerOf(callOptions: CallOptions): Caller {
    return { deadlineAt: Date.now() + (callOptions.deadlineMs ?? settings.defaultDeadlineMs), signal: callOptions.signal };
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
      return patientFlights.join(`${apiKey}\n${id}`, callerOf(callOptions), (ctx) => fetchPatient(apiKey, id, ctx));
    },

    /** The Cliniko user who owns the key: a cheap way to verify a key. */
    getUser(apiKey: string, callOptions: CallOptions = {}): Promise<ClinikoUser> {
      return runAlone(callerOf(callOptions), async (ctx) => {
        const user = await getJson(apiKey, '/user', [], ctx);
        if (!isRecord(user) || typeof user.id !== 'string') throw new ClinikoError('bad_response');
        return user as ClinikoUser;
      });
    },

    /** Account settings; `account.id` and `account.subdomain` identify the clinic behind the key. */
    getSettings(apiKey: string, callOptions: CallOptions = {}): Promise<ClinikoSettings> {
      return runAlone(callerOf(callOptions), async (ctx) => {
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

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => {
    throw cancelledError();
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
