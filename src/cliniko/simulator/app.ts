// A Cliniko stand-in for development and tests: a Fastify app that answers like the API described in
// /work/shared/reference/cliniko-api.md, over real HTTP, with the shard in the host name
// (`api.<shard>.<anything>`), shard-suffixed keys, 64-bit string IDs, archived and merged patients,
// pagination, `q[]` filters (filters.ts) and a per-key rate limit. Faults (latency, 5xx, 429 storms,
// connection resets, hangs, answers that are not JSON or are cut short, enormous answers) can be
// injected globally or for one patient (faults.ts). On any host not starting
// with `api.` it serves a page imitating Cliniko's patient screen (patient-screen.ts), whose custom
// button opens Sidechart (cross-site, as in real life when Sidechart runs on another host).
//
// The caller listens: `await sim.listen({ port: 0, host: '127.0.0.1' })`. Data lives in memory.
import Fastify from 'fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { render } from '../../infra/html.ts';
import { isValidShard, shardFromApiKey } from '../shard.ts';
import type { ClinikoPatient, ClinikoUser } from '../types.ts';
import { createFaultInjector, type SimulatorFault, type StreamedBodies } from './faults.ts';
import { compareIds, parseFilters, positiveInteger, type Query } from './filters.ts';
import { PATIENT_SCREEN_CSP, renderPatientScreen } from './patient-screen.ts';
import {
  isoNow,
  isSet,
  patientJson,
  patientRecord,
  userRecord,
  type Account,
  type Credential,
  type SimulatorPatientInput,
  type StoredPatient,
} from './records.ts';

export interface SimulatorOptions {
  /**
   * What `GET /v1/patients/:id` answers for an archived patient without the `archived_at:*` filter.
   * Unconfirmed in Cliniko's docs, so the client must cope with both. Default '404'.
   */
  archivedById?: '404' | 'ok';
  /** Requests per window per API key before 429 (default 200 per 60 s, as Cliniko documents). */
  rateLimit?: { limit: number; windowMs: number };
  /** Answer 403 when the User-Agent is not `Name (email)` (default true: Cliniko may block them). */
  requireUserAgent?: boolean;
  /** The custom button's target on the demo page; `?patient_id=<id>` is appended. */
  buttonUrl?: string;
  /** Fastify logger option (default false: requests carry API keys). */
  logger?: boolean;
}

export interface SimulatorSettings {
  archivedById: '404' | 'ok';
  rateLimit: { limit: number; windowMs: number };
  requireUserAgent: boolean;
  buttonUrl: string;
}

export interface SimulatorAccountInput {
  shard: string;
  apiKey: string;
  accountId: string;
  subdomain: string;
  name?: string;
  country?: string;
  timeZone?: string;
  /** The Cliniko user who owns `apiKey` (answered by GET /v1/user). */
  user: Partial<ClinikoUser> & { id: string };
}

export interface SimulatorRequest {
  method: string;
  /** Path without the query string, e.g. `/v1/patients/836447129235883061`. */
  path: string;
  query: string;
  host: string;
  /** Status sent; undefined while pending and for reset or hung requests. */
  status: number | undefined;
}

export type RequestFilter = string | RegExp | { path?: string | RegExp; method?: string; status?: number };

export interface SimulatorStats {
  /** 429 answers sent. */
  rateLimited: number;
  /** Most requests served (not 429) to one key within one rate-limit window. */
  maxServedInWindow: number;
}

const DIGITS = /^[1-9][0-9]{0,18}$/;
const USER_AGENT = /^\S.* \([^()\s]+@[^()\s]+\)$/;
const API_HOST = /^api\.([^.]+)\./;

export type ClinikoSimulator = ReturnType<typeof createClinikoSimulator>;

export function createClinikoSimulator(options: SimulatorOptions = {}) {
  const settings: SimulatorSettings = {
    archivedById: options.archivedById ?? '404',
    rateLimit: options.rateLimit ?? { limit: 200, windowMs: 60_000 },
    requireUserAgent: options.requireUserAgent ?? true,
    buttonUrl: options.buttonUrl ?? 'http://demo.localhost:3000/patients',
  };
  new URL(settings.buttonUrl); // fail now on a malformed button URL

  const accounts = new Map<string, Account>();
  const credentials = new Map<string, Credential>();
  const faults = createFaultInjector();
  const log: SimulatorRequest[] = [];
  const windows = new Map<string, { start: number; served: number }>();
  const stats: SimulatorStats = { rateLimited: 0, maxServedInWindow: 0 };

  // Per-request state without decorating FastifyRequest (these belong to this app only).
  const callers = new WeakMap<FastifyRequest, Credential>();
  const logEntries = new WeakMap<FastifyRequest, SimulatorRequest>();

  const app = Fastify({ logger: options.logger ?? false });

  app.addHook('preClose', async () => faults.releaseHung());

  app.register(async (api) => {
    api.addHook('onRequest', async (request, reply) => {
      const entry: SimulatorRequest = {
        method: request.method,
        path: request.url.split('?')[0] ?? '',
        query: request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '',
        host: request.host,
        status: undefined,
      };
      log.push(entry);
      logEntries.set(request, entry);

      if (await faults.inject(request, reply)) return reply;

      if (settings.requireUserAgent && !USER_AGENT.test(request.headers['user-agent'] ?? '')) {
        return reply.code(403).send({ message: 'Please send a User-Agent naming your application and a contact e-mail.' });
      }
      const shard = API_HOST.exec(request.hostname.toLowerCase())?.[1];
      if (shard === undefined || !isValidShard(shard)) return reply.code(404).send({ message: 'Unknown API host' });

      // A wrong key and a right key on the wrong shard get the same generic answer, as in Cliniko
      // (the body imitates a Rails Basic-auth refusal; Cliniko's exact 401 body is not documented).
      const credential = credentials.get(basicUser(request.headers.authorization) ?? '');
      if (credential === undefined || credential.account.shard !== shard) {
        return reply.code(401).header('www-authenticate', 'Basic realm="Application"').type('text/plain').send('HTTP Basic: Access denied.\n');
      }

      const limited = rateLimit(credential.apiKey);
      if (limited !== undefined) {
        stats.rateLimited += 1;
        return reply.code(429).header('x-ratelimit-reset', String(limited)).send({ message: 'Too Many Requests' });
      }
      callers.set(request, credential);
      return undefined;
    });

    api.addHook('onResponse', async (request, reply) => {
      const entry = logEntries.get(request);
      if (entry !== undefined) entry.status = reply.statusCode;
    });

    api.get<{ Params: { id: string }; Querystring: Query }>('/v1/patients/:id', async (request, reply) => {
      const { account } = caller(request);
      const stored = DIGITS.test(request.params.id) ? account.patients.get(request.params.id) : undefined;
      const filters = parseFilters(request.query);
      if (filters === undefined) return reply.code(400).send({ message: 'Invalid filter' });
      const includeArchived = settings.archivedById === 'ok' || filters.some((f) => f.field === 'archived_at');
      if (stored === undefined || isSet(stored.data.deleted_at) || (isSet(stored.data.archived_at) && !includeArchived)) {
        return reply.code(404).send({ message: 'Not found' });
      }
      return patientJson(stored, apiBase(request));
    });

    api.get<{ Querystring: Query }>('/v1/patients', async (request, reply) => {
      const { account } = caller(request);
      const page = positiveInteger(request.query.page, 1);
      const perPage = positiveInteger(request.query.per_page, 50);
      const filters = parseFilters(request.query);
      if (page === undefined || perPage === undefined || filters === undefined) {
        return reply.code(400).send({ message: 'Invalid page, per_page or filter' });
      }
      const size = Math.min(perPage, 100);
      const includeArchived = filters.some((f) => f.field === 'archived_at');
      const matching = [...account.patients.values()]
        .filter((p) => !isSet(p.data.deleted_at) && (includeArchived || !isSet(p.data.archived_at)))
        .filter((p) => filters.every((f) => f.test(p.data)))
        .sort((a, b) => compareIds(a.data.id, b.data.id));
      const base = apiBase(request);
      const self = new URL(request.url, base);
      const body: Record<string, unknown> = {
        patients: matching.slice((page - 1) * size, page * size).map((p) => patientJson(p, base)),
        total_entries: matching.length,
        links: { self: self.href },
      };
      if (page * size < matching.length) {
        const next = new URL(self);
        next.searchParams.set('page', String(page + 1));
        body.links = { self: self.href, next: next.href };
      }
      return body;
    });

    api.get('/v1/user', async (request) => {
      const { user } = caller(request);
      return { ...user, links: { self: `${apiBase(request)}/users/${user.id}` } };
    });

    api.get('/v1/settings', async (request) => {
      const { account } = caller(request);
      return {
        account: { id: account.id, name: account.name, country: account.country, time_zone: account.timeZone, subdomain: account.subdomain },
        links: { self: `${apiBase(request)}/settings` },
      };
    });
  });

  app.get<{ Querystring: { patient?: string } }>('/', async (request, reply) => {
    if (request.hostname.toLowerCase().startsWith('api.')) return reply.code(404).send({ message: 'Not found' });
    return reply
      .header('content-security-policy', PATIENT_SCREEN_CSP)
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(renderPatientScreen({ accounts: accounts.values(), selectedId: request.query.patient, buttonUrl: settings.buttonUrl }));
  });

  // Cliniko's settings, as far as Sidechart is concerned: Our clinic > Integrations (the custom
  // patient button's address, pasted from Sidechart's admin page) and My info > Manage API keys
  // (the key to paste into Sidechart). No sign-in: the simulator is a development and test tool.
  const sendSettings = (reply: FastifyReply, view: { saved?: boolean; error?: string; typed?: string }, statusCode = 200) =>
    reply
      .code(statusCode)
      .header('content-security-policy', PATIENT_SCREEN_CSP)
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(
        render('cliniko/simulator/views/settings', {
          buttonUrl: view.typed ?? settings.buttonUrl,
          saved: view.saved === true,
          error: view.error ?? null,
          keys: [...credentials.values()].map((c) => ({ key: c.apiKey, account: c.account.name, user: [c.user.first_name, c.user.last_name].filter(Boolean).join(' ') })),
        }),
      );
  app.get<{ Querystring: { saved?: string } }>('/settings', async (request, reply) => {
    if (request.hostname.toLowerCase().startsWith('api.')) return reply.code(404).send({ message: 'Not found' });
    return sendSettings(reply, { saved: request.query.saved === '1' });
  });
  app.register(async (form) => {
    form.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 8192 }, (_request, body, done) =>
      done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    form.post<{ Body: { url?: string } }>('/settings/integrations', async (request, reply) => {
      if (request.hostname.toLowerCase().startsWith('api.')) return reply.code(404).send({ message: 'Not found' });
      const typed = typeof request.body?.url === 'string' ? request.body.url.trim() : '';
      let url: URL | null = null;
      try {
        url = new URL(typed);
      } catch {
        url = null;
      }
      if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
        return sendSettings(reply, { error: 'Enter a web address starting with https:// (or http:// in development).', typed }, 400);
      }
      settings.buttonUrl = url.href;
      return reply.redirect('/settings?saved=1', 303);
    });
  });

  // --- request helpers (closures over the state above) ---

  function caller(request: FastifyRequest): Credential {
    const found = callers.get(request);
    if (found === undefined) throw new Error('simulator: route reached without authentication');
    return found;
  }

  /** Fixed window per key; returns the reset time (UNIX seconds) when over the limit. */
  function rateLimit(apiKey: string): number | undefined {
    const now = Date.now();
    let window = windows.get(apiKey);
    if (window === undefined || now >= window.start + settings.rateLimit.windowMs) {
      window = { start: now, served: 0 };
      windows.set(apiKey, window);
    }
    if (window.served >= settings.rateLimit.limit) return Math.ceil((window.start + settings.rateLimit.windowMs) / 1000);
    window.served += 1;
    stats.maxServedInWindow = Math.max(stats.maxServedInWindow, window.served);
    return undefined;
  }

  function accountFor(apiKeyOrAccountId: string): Account {
    const account = credentials.get(apiKeyOrAccountId)?.account ?? accounts.get(apiKeyOrAccountId);
    if (account === undefined) throw new Error('simulator: unknown API key or account id');
    return account;
  }

  function storedPatient(apiKeyOrAccountId: string, id: string): StoredPatient {
    const stored = accountFor(apiKeyOrAccountId).patients.get(id);
    if (stored === undefined) throw new Error(`simulator: unknown patient ${id}`);
    return stored;
  }

  // --- the in-memory data API ---

  const data = {
    /** Mutable: tests may switch archivedById, the rate limit or the User-Agent check. */
    settings,
    /** Mutable: set `global` or `byPatientId` entries, or use setFault/clearFaults. */
    faults: faults.faults,

    /** Adds an account with its first API key. The key's suffix must name `shard`. */
    addAccount(input: SimulatorAccountInput): void {
      const keyShard = shardFromApiKey(input.apiKey);
      if (!keyShard.ok || keyShard.shard !== input.shard) throw new Error('simulator: the API key does not belong to that shard');
      if (!DIGITS.test(input.accountId) || !DIGITS.test(input.user.id)) throw new Error('simulator: IDs must be decimal strings');
      if (credentials.has(input.apiKey)) throw new Error('simulator: API key already in use');
      let account = accounts.get(input.accountId);
      if (account === undefined) {
        account = {
          id: input.accountId,
          shard: input.shard,
          subdomain: input.subdomain,
          name: input.name ?? input.subdomain,
          country: input.country ?? 'Australia',
          timeZone: input.timeZone ?? 'Melbourne',
          patients: new Map(),
        };
        accounts.set(input.accountId, account);
      }
      credentials.set(input.apiKey, { apiKey: input.apiKey, account, user: userRecord(input.user) });
    },

    /** Adds (or replaces) a patient in the account of this API key or account id. */
    addPatient(apiKeyOrAccountId: string, patient: SimulatorPatientInput): ClinikoPatient {
      if (!DIGITS.test(patient.id)) throw new Error('simulator: patient IDs are decimal strings');
      const stored: StoredPatient = { data: patientRecord(patient), mergedIntoId: undefined };
      accountFor(apiKeyOrAccountId).patients.set(patient.id, stored);
      return structuredClone(stored.data);
    },

    /** Changes fields and bumps updated_at, as an edit in Cliniko would. */
    updatePatient(apiKeyOrAccountId: string, id: string, changes: Partial<ClinikoPatient>): void {
      const stored = storedPatient(apiKeyOrAccountId, id);
      stored.data = { ...stored.data, ...changes, id, updated_at: isoNow() };
    },

    archivePatient(apiKeyOrAccountId: string, id: string): void {
      const stored = storedPatient(apiKeyOrAccountId, id);
      stored.data = { ...stored.data, archived_at: isoNow(), updated_at: isoNow() };
    },

    /** Marks `fromId` as merged into `intoId`: merged_at set, merged_with_patient links to the survivor. */
    mergePatient(apiKeyOrAccountId: string, fromId: string, intoId: string): void {
      storedPatient(apiKeyOrAccountId, intoId);
      const stored = storedPatient(apiKeyOrAccountId, fromId);
      stored.data = { ...stored.data, merged_at: isoNow(), updated_at: isoNow() };
      stored.mergedIntoId = intoId;
    },

    setFault(fault: SimulatorFault, scope: { patientId?: string } = {}): void {
      faults.set(fault, scope);
    },

    clearFaults(): void {
      faults.clear();
    },

    /** API requests received (including faulted, refused and rate-limited ones). */
    requestCount(filter?: RequestFilter): number {
      return log.filter((entry) => matchesFilter(entry, filter)).length;
    },

    requests(): SimulatorRequest[] {
      return log.map((entry) => ({ ...entry }));
    },

    stats(): SimulatorStats {
      return { ...stats };
    },

    /** Enormous bodies (the enormousBytes fault): started, produced to their end, bytes produced. */
    streamedBodies(): StreamedBodies {
      return faults.streamed();
    },

    /** Forgets the request log, rate-limit windows and stats, streamed bodies included (data and faults stay). */
    resetCounters(): void {
      log.length = 0;
      windows.clear();
      stats.rateLimited = 0;
      stats.maxServedInWindow = 0;
      faults.resetStreamed();
    },
  };

  // Plain properties rather than decorators: they belong to this app only, and the type follows.
  return Object.assign(app, data);
}

/** The user name of an HTTP Basic header (the API key), or undefined. */
export function basicUser(header: string | undefined): string | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (match?.[1] === undefined) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? decoded : decoded.slice(0, colon);
}

function matchesFilter(entry: SimulatorRequest, filter: RequestFilter | undefined): boolean {
  if (filter === undefined) return true;
  if (typeof filter === 'string') return entry.path === filter;
  if (filter instanceof RegExp) return filter.test(entry.path);
  if (filter.method !== undefined && entry.method !== filter.method.toUpperCase()) return false;
  if (filter.status !== undefined && entry.status !== filter.status) return false;
  if (filter.path === undefined) return true;
  return typeof filter.path === 'string' ? entry.path === filter.path : filter.path.test(entry.path);
}

function apiBase(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}/v1`;
}
