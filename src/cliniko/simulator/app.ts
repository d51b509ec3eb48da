// A Cliniko stand-in for development and tests: a Fastify app that answers like the API described in
// /work/shared/reference/cliniko-api.md, over real HTTP, with the shard in the host name
// (`api.<shard>.<anything>`), shard-suffixed keys, 64-bit string IDs, archived and merged patients,
// pagination, `q[]` filters and a per-key rate limit. Faults (latency, 5xx, connection reset,
// hang) can be injected globally or for one patient. On any host not starting with `api.` it serves
// a page imitating Cliniko's patient screen, whose custom button opens Sidechart (cross-site, as
// in real life when Sidechart runs on another host).
//
// The caller listens: `await sim.listen({ port: 0, host: '127.0.0.1' })`. Data lives in memory.
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Eta } from 'eta';
import Fastify from 'fastify';
import type { FastifyRequest } from 'fastify';
import { isValidShard, shardFromApiKey } from '../shard.ts';
import type { ClinikoPatient, ClinikoUser } from '../types.ts';

// ---------------------------------------------------------------------------------------------
// Options and data shapes

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

/** A patient to store: `id` is required; other fields default to Cliniko's empty values. */
export type SimulatorPatientInput = Partial<ClinikoPatient> & { id: string };

export interface SimulatorFault {
  /** Delay before answering (or before the other fault). */
  latencyMs?: number;
  /** Answer with this status instead (typically 500, 502 or 503; any 4xx/5xx works). */
  status?: number;
  /** Reset the TCP connection instead of answering. */
  reset?: boolean;
  /** Never answer (the connection stays open until the client gives up or the app closes). */
  hang?: boolean;
  /** Apply to this many matching requests, then disappear (default: until cleared). */
  times?: number;
}

export interface SimulatorFaults {
  /** Applies to every API request with no patient-specific fault. */
  global: SimulatorFault | null;
  /** Applies to `GET /v1/patients/:id` and to list requests filtered by `id:=` this ID. */
  byPatientId: Map<string, SimulatorFault>;
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

interface Account {
  id: string;
  shard: string;
  subdomain: string;
  name: string;
  country: string;
  timeZone: string;
  patients: Map<string, StoredPatient>;
}

interface StoredPatient {
  data: ClinikoPatient;
  /** Set by mergePatient: the surviving record. */
  mergedIntoId: string | undefined;
}

interface Credential {
  apiKey: string;
  account: Account;
  user: ClinikoUser;
}

type Query = Record<string, string | string[] | undefined>;

const DIGITS = /^[1-9][0-9]{0,18}$/;
const USER_AGENT = /^\S.* \([^()\s]+@[^()\s]+\)$/;
const API_HOST = /^api\.([^.]+)\./;

// ---------------------------------------------------------------------------------------------
// The app

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
  const faults: SimulatorFaults = { global: null, byPatientId: new Map() };
  const log: SimulatorRequest[] = [];
  const windows = new Map<string, { start: number; served: number }>();
  const stats: SimulatorStats = { rateLimited: 0, maxServedInWindow: 0 };
  const hungSockets = new Set<Socket>();

  // Per-request state without decorating FastifyRequest (these belong to this app only).
  const callers = new WeakMap<FastifyRequest, Credential>();
  const logEntries = new WeakMap<FastifyRequest, SimulatorRequest>();

  const app = Fastify({ logger: options.logger ?? false });

  // Hung requests would keep close() waiting forever.
  app.addHook('preClose', async () => {
    for (const socket of hungSockets) socket.destroy();
    hungSockets.clear();
  });

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

      const fault = takeFault(request);
      if (fault?.latencyMs !== undefined && fault.latencyMs > 0) await sleep(fault.latencyMs);
      if (fault?.reset === true) {
        reply.hijack();
        request.raw.socket.resetAndDestroy();
        return reply;
      }
      if (fault?.hang === true) {
        reply.hijack();
        const socket = request.raw.socket;
        hungSockets.add(socket);
        socket.once('close', () => hungSockets.delete(socket));
        return reply;
      }
      if (fault?.status !== undefined) return reply.code(fault.status).send({ message: 'Simulated server error' });

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

  // The imitation of Cliniko's patient screen, on any host that is not an API host.
  const screens = new Eta({ autoEscape: true });
  screens.loadTemplate('@patient-screen', PATIENT_SCREEN);
  app.get<{ Querystring: { patient?: string } }>('/', async (request, reply) => {
    if (request.hostname.toLowerCase().startsWith('api.')) return reply.code(404).send({ message: 'Not found' });
    const patients = [...accounts.values()].flatMap((account) =>
      [...account.patients.values()].filter((p) => !isSet(p.data.deleted_at)).map((p) => ({ account, stored: p })),
    );
    const selected = patients.find((p) => p.stored.data.id === request.query.patient) ?? patients[0];
    const view = selected === undefined ? null : screenView(selected.account, selected.stored, settings.buttonUrl);
    const list = patients.map(({ stored }) => ({ id: stored.data.id, name: displayName(stored.data), current: stored === selected?.stored }));
    return reply
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(screens.render('@patient-screen', { patients: list, view }));
  });

  // --- request helpers (closures over the state above) ---

  function caller(request: FastifyRequest): Credential {
    const found = callers.get(request);
    if (found === undefined) throw new Error('simulator: route reached without authentication');
    return found;
  }

  function takeFault(request: FastifyRequest): SimulatorFault | undefined {
    const id = faultPatientId(request);
    const scoped = id === undefined ? undefined : faults.byPatientId.get(id);
    const fault = scoped ?? faults.global ?? undefined;
    if (fault?.times !== undefined) {
      fault.times -= 1;
      if (fault.times <= 0) {
        if (scoped !== undefined && id !== undefined) faults.byPatientId.delete(id);
        else faults.global = null;
      }
    }
    return fault;
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
    faults,

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
      if (scope.patientId === undefined) faults.global = { ...fault };
      else faults.byPatientId.set(scope.patientId, { ...fault });
    },

    clearFaults(): void {
      faults.global = null;
      faults.byPatientId.clear();
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

    /** Forgets the request log, rate-limit windows and stats (data and faults stay). */
    resetCounters(): void {
      log.length = 0;
      windows.clear();
      stats.rateLimited = 0;
      stats.maxServedInWindow = 0;
    },
  };

  // Plain properties rather than decorators: they belong to this app only, and the type follows.
  return Object.assign(app, data);
}

// ---------------------------------------------------------------------------------------------
// Pure helpers

/** The user name of an HTTP Basic header (the API key), or undefined. */
export function basicUser(header: string | undefined): string | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (match?.[1] === undefined) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? decoded : decoded.slice(0, colon);
}

function faultPatientId(request: FastifyRequest): string | undefined {
  const params = request.params as Record<string, string | undefined> | undefined;
  if (params?.id !== undefined) return params.id;
  for (const filter of queryValues(request.query as Query, 'q[]')) {
    const match = /^id:=(\d+)$/.exec(filter);
    if (match?.[1] !== undefined) return match[1];
  }
  return undefined;
}

function queryValues(query: Query | undefined, key: string): string[] {
  const value = query?.[key];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function positiveInteger(value: string | string[] | undefined, fallback: number): number | undefined {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^[1-9][0-9]{0,5}$/.test(value)) return undefined;
  return Number(value);
}

interface Filter {
  field: string;
  test(patient: ClinikoPatient): boolean;
}

const DATE_FIELDS = new Set(['created_at', 'updated_at', 'archived_at', 'deleted_at', 'merged_at']);
const TEXT_FIELDS = new Set(['first_name', 'last_name', 'email', 'old_reference_id']);

/** `q[]=field:operator value` filters; undefined if any is malformed or unsupported. */
export function parseFilters(query: Query | undefined): Filter[] | undefined {
  const filters: Filter[] = [];
  for (const raw of queryValues(query, 'q[]')) {
    const match = /^([a-z_0-9]+):(!=|>=|<=|~~|=|>|<|~|\*|\?)(.*)$/.exec(raw);
    if (match === null) return undefined;
    const [, field = '', op = '', value = ''] = match;
    const filter = buildFilter(field, op, value);
    if (filter === undefined) return undefined;
    filters.push(filter);
  }
  return filters;
}

function buildFilter(field: string, op: string, value: string): Filter | undefined {
  if (field === 'id') {
    if (!/^\d+$/.test(value) || !['=', '!=', '>', '>=', '<', '<='].includes(op)) return undefined;
    return { field, test: (p) => compares(compareIds(p.id, value), op) };
  }
  if (DATE_FIELDS.has(field)) {
    if (op === '*') return { field, test: () => true };
    if (op === '?') return { field, test: (p) => !isSet(p[field]) };
    const at = Date.parse(value);
    if (Number.isNaN(at) || !['=', '!=', '>', '>=', '<', '<='].includes(op)) return undefined;
    return {
      field,
      test: (p) => {
        const own = p[field];
        return typeof own === 'string' && own !== '' && compares(Math.sign(Date.parse(own) - at), op);
      },
    };
  }
  if (TEXT_FIELDS.has(field)) {
    const wanted = value.toLowerCase();
    const text = (p: ClinikoPatient): string => String(p[field] ?? '').toLowerCase();
    if (op === '=') return { field, test: (p) => text(p) === wanted };
    if (op === '!=') return { field, test: (p) => text(p) !== wanted };
    if (op === '~') return { field, test: (p) => text(p).includes(wanted) };
    if (op === '~~') {
      const pattern = new RegExp(`^${wanted.split('%').map(escapeRegExp).join('.*')}$`, 's');
      return { field, test: (p) => pattern.test(text(p)) };
    }
  }
  return undefined;
}

function compares(sign: number, op: string): boolean {
  switch (op) {
    case '=': return sign === 0;
    case '!=': return sign !== 0;
    case '>': return sign > 0;
    case '>=': return sign >= 0;
    case '<': return sign < 0;
    case '<=': return sign <= 0;
    default: return false;
  }
}

/** Numeric order of decimal ID strings, without Number(): BigInt keeps 64-bit values exact. */
function compareIds(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x === y ? 0 : x > y ? 1 : -1;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function isSet(value: unknown): boolean {
  return value !== null && value !== undefined && value !== '';
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

function isoNow(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function patientJson(stored: StoredPatient, base: string): ClinikoPatient {
  const merged = stored.mergedIntoId === undefined ? (stored.data.merged_with_patient ?? null) : { links: { self: `${base}/patients/${stored.mergedIntoId}` } };
  return { ...structuredClone(stored.data), merged_with_patient: merged, links: { self: `${base}/patients/${stored.data.id}` } };
}

function patientRecord(input: SimulatorPatientInput): ClinikoPatient {
  const now = isoNow();
  const { id, ...fields } = structuredClone(input);
  const record: ClinikoPatient = {
    id,
    title: null,
    first_name: '',
    last_name: '',
    preferred_first_name: null,
    date_of_birth: null,
    sex: null,
    gender_identity: null,
    pronouns: null,
    email: null,
    patient_phone_numbers: [],
    address_1: '',
    address_2: '',
    address_3: '',
    city: '',
    state: '',
    post_code: '',
    country_code: null,
    occupation: '',
    emergency_contact: '',
    medicare: null,
    medicare_reference_number: null,
    notes: '',
    time_zone: null,
    custom_fields: null,
    created_at: now,
    updated_at: now,
    archived_at: null,
    deleted_at: null,
    merged_at: null,
    merged_with_patient: null,
    ...fields,
  };
  record.label ??= [record.title, record.first_name, record.last_name].filter((part) => isSet(part)).join(' ');
  delete record.links; // built per request from the host it was asked on
  return record;
}

function userRecord(input: Partial<ClinikoUser> & { id: string }): ClinikoUser {
  const now = isoNow();
  const { id, ...fields } = structuredClone(input);
  return {
    id,
    title: '',
    first_name: 'Demo',
    last_name: 'User',
    email: 'demo.user@example.org',
    role: 'administrator',
    time_zone: 'Melbourne',
    user_active: true,
    created_at: now,
    updated_at: now,
    ...fields,
  };
}

function displayName(patient: ClinikoPatient): string {
  const name = [patient.first_name, patient.last_name].filter((part) => isSet(part)).join(' ');
  return name === '' ? `Patient ${patient.id}` : name;
}

function screenView(account: Account, stored: StoredPatient, buttonUrl: string) {
  const p = stored.data;
  const button = new URL(buttonUrl);
  button.searchParams.set('patient_id', p.id);
  return {
    clinic: account.name,
    id: p.id,
    name: displayName(p),
    preferred: p.preferred_first_name ?? '',
    dateOfBirth: p.date_of_birth ?? '',
    email: p.email ?? '',
    phones: (p.patient_phone_numbers ?? []).map((n) => `${n.phone_type ?? 'Phone'}: ${n.number}`),
    archived: isSet(p.archived_at),
    mergedInto: stored.mergedIntoId ?? null,
    buttonHref: button.href,
  };
}

// Eta escapes every `<%= %>`; nothing here is printed raw.
const PATIENT_SCREEN = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Cliniko (simulated)<% if (it.view) { %> · <%= it.view.name %><% } %></title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #172b4d; }
header { background: #0b6e4f; color: #fff; padding: .6rem 1.2rem; }
.wrap { display: flex; gap: 1.5rem; padding: 1.2rem; }
nav { width: 16rem; } nav a { display: block; padding: .3rem 0; color: #0b6e4f; } nav a.current { font-weight: bold; }
main { flex: 1; background: #fff; border-radius: 6px; padding: 1rem 1.5rem; }
.actions { display: flex; gap: .5rem; align-items: center; background: #eef1f5; padding: .5rem .75rem; border-radius: 4px; margin: 1rem 0; }
.actions a { background: #fff; border: 1px solid #c1c7d0; border-radius: 4px; padding: .3rem .7rem; color: #172b4d; text-decoration: none; }
.actions a.custom { background: #0b6e4f; color: #fff; border-color: #0b6e4f; }
.badge { background: #ffebe6; color: #bf2600; padding: .1rem .4rem; border-radius: 3px; font-size: .85rem; }
</style>
</head>
<body>
<header><strong>Cliniko</strong> <small>(simulated for Sidechart development)</small><% if (it.view) { %> · <%= it.view.clinic %><% } %></header>
<div class="wrap">
<nav>
<h2>Patients</h2>
<% it.patients.forEach(function (p) { %>
<a href="/?patient=<%= p.id %>" class="<%= p.current ? 'current' : '' %>"><%= p.name %></a>
<% }) %>
</nav>
<main>
<% if (!it.view) { %>
<p>No patients yet.</p>
<% } else { %>
<h1><%= it.view.name %><% if (it.view.preferred) { %> <small>(<%= it.view.preferred %>)</small><% } %></h1>
<% if (it.view.archived) { %><p><span class="badge">Archived</span></p><% } %>
<% if (it.view.mergedInto) { %><p><span class="badge">Merged into patient <%= it.view.mergedInto %></span></p><% } %>
<div class="actions" aria-label="Patient actions">
<strong>Patient actions</strong>
<a href="#">Edit details</a>
<a href="#">Book appointment</a>
<a class="custom" href="<%= it.view.buttonHref %>">Open in Sidechart</a>
</div>
<dl>
<dt>Patient ID</dt><dd><%= it.view.id %></dd>
<dt>Date of birth</dt><dd><%= it.view.dateOfBirth %></dd>
<dt>Email</dt><dd><%= it.view.email %></dd>
<% it.view.phones.forEach(function (phone) { %><dt>Phone</dt><dd><%= phone %></dd><% }) %>
</dl>
<% } %>
</main>
</div>
</body>
</html>
`;

// ---------------------------------------------------------------------------------------------
// Demo data (npm start in development, and tests that want realistic records)

export const DEMO_SHARD = 'au1';
/** Not a secret: it only opens the simulator. */
export const DEMO_API_KEY = 'sim0demo4f1c9a7e2b5d8c3a6f0e9d2b7c4a1e8f5d3b6-au1';
export const DEMO_ACCOUNT_ID = '836447129235800001';
export const DEMO_PATIENT_IDS = {
  /** The reference example (Aroha Ngata-O'Brien). */
  example: '836447129235883061',
  archived: '836447129235883070',
  /** Merged into `survivor`. */
  merged: '836447129235883080',
  survivor: '836447129235883081',
  /** Markup and quotes in every name field; the largest possible ID. */
  tricky: '9223372036854775807',
} as const;

export interface DemoAccount {
  shard: string;
  apiKey: string;
  accountId: string;
  subdomain: string;
  patientIds: typeof DEMO_PATIENT_IDS;
}

/** Adds the demo clinic: one key, one user and a handful of realistic patients. */
export function seedDemo(sim: ClinikoSimulator): DemoAccount {
  sim.addAccount({
    shard: DEMO_SHARD,
    apiKey: DEMO_API_KEY,
    accountId: DEMO_ACCOUNT_ID,
    subdomain: 'fitzroy-physio',
    name: 'Fitzroy Physio & Pilates',
    user: { id: '836447129235810001', first_name: 'Priya', last_name: 'Raman', email: 'priya@fitzroy-physio.example', role: 'administrator' },
  });
  sim.addPatient(DEMO_API_KEY, EXAMPLE_PATIENT);
  sim.addPatient(DEMO_API_KEY, {
    id: DEMO_PATIENT_IDS.archived,
    title: 'Mr',
    first_name: 'Archie',
    last_name: 'Vaughan',
    date_of_birth: '1951-09-02',
    sex: 'Male',
    email: 'archie.vaughan@example.org',
    patient_phone_numbers: [{ number: '0400 111 222', normalized_number: '+61400111222', phone_type: 'Mobile' }],
    city: 'Collingwood',
    state: 'VIC',
    post_code: '3066',
    country_code: 'AU',
    created_at: '2019-05-10T01:00:00Z',
    updated_at: '2023-08-01T06:12:00Z',
    archived_at: '2023-08-01T06:12:00Z',
  });
  sim.addPatient(DEMO_API_KEY, {
    id: DEMO_PATIENT_IDS.survivor,
    first_name: 'Mereana',
    last_name: 'Smith',
    date_of_birth: '1992-12-01',
    sex: 'Female',
    email: 'mereana.smith@example.org',
    created_at: '2021-03-03T03:03:03Z',
    updated_at: '2025-06-01T00:00:00Z',
  });
  sim.addPatient(DEMO_API_KEY, {
    id: DEMO_PATIENT_IDS.merged,
    first_name: 'Mere',
    last_name: 'Smith',
    date_of_birth: '1992-12-01',
    email: 'mere.s@example.org',
    created_at: '2024-01-15T09:30:00Z',
    updated_at: '2025-06-01T00:00:00Z',
  });
  sim.mergePatient(DEMO_API_KEY, DEMO_PATIENT_IDS.merged, DEMO_PATIENT_IDS.survivor);
  sim.addPatient(DEMO_API_KEY, {
    id: DEMO_PATIENT_IDS.tricky,
    title: '"Dr"',
    first_name: '<script>alert("first")</script>',
    last_name: `O'Hara "Bobby" </title><img src=x onerror=alert(1)> & Sons`,
    preferred_first_name: `'><svg onload=alert(2)>`,
    date_of_birth: '2000-02-29',
    email: 'bobby+"quotes"@example.org',
    patient_phone_numbers: [{ number: '"><script>alert(3)</script>', phone_type: `Work's "main"` }],
    address_1: '<b>1</b> Example St',
    city: `Saint-Jean-d'Angély`,
    notes: '</textarea><script>alert(4)</script>',
    custom_fields: {
      sections: [{ name: '<i>Intake</i>', fields: [{ name: '"Concern"', type: 'text', value: '<script>alert(5)</script>' }] }],
    },
    created_at: '2025-01-01T00:00:00Z',
    updated_at: '2025-01-02T00:00:00Z',
  });
  return { shard: DEMO_SHARD, apiKey: DEMO_API_KEY, accountId: DEMO_ACCOUNT_ID, subdomain: 'fitzroy-physio', patientIds: DEMO_PATIENT_IDS };
}

/** The reference example body (cliniko-patient-example.json), minus `links` (built per request). */
const EXAMPLE_PATIENT: SimulatorPatientInput = {
  id: DEMO_PATIENT_IDS.example,
  title: 'Ms',
  first_name: 'Aroha',
  last_name: "Ngata-O'Brien",
  preferred_first_name: 'Ro',
  label: "Ms Aroha Ngata-O'Brien",
  date_of_birth: '1987-03-14',
  sex: 'Female',
  gender_identity: 'Woman',
  pronouns: null,
  email: 'aroha@example.org',
  patient_phone_numbers: [
    { number: '0412 345 678', normalized_number: '+61412345678', phone_type: 'Mobile' },
    { number: '(03) 9123 4567', normalized_number: '+61391234567', phone_type: 'Home' },
  ],
  address_1: 'Unit 4, 12 Example Street',
  address_2: '',
  address_3: '',
  city: 'Fitzroy',
  state: 'VIC',
  post_code: '3065',
  country_code: 'AU',
  occupation: 'Landscape architect',
  emergency_contact: 'Tane Ngata (brother) 0498 765 432',
  medicare: '2123 45670 1',
  medicare_reference_number: '1',
  dva_card_number: null,
  notes: 'Prefers morning appointments.',
  appointment_notes: null,
  referral_source: 'GP referral',
  old_reference_id: null,
  time_zone: 'Australia/Melbourne',
  accepted_privacy_policy: true,
  accepted_email_marketing: false,
  accepted_sms_marketing: false,
  receives_confirmation_emails: true,
  receives_cancellation_emails: true,
  reminder_type: 'SMS',
  invoice_default_to: null,
  invoice_email: null,
  invoice_extra_information: null,
  custom_fields: {
    sections: [
      {
        name: 'Intake',
        token: '0b3c2f7e-6a0e-4d7a-9d3e-4c1f5b2a9e10',
        archived: false,
        fields: [
          { token: '5d1e7c44-8f0b-4b8e-a0d2-6f3b9c1e2a77', name: 'Main concern', type: 'paragraph', value: 'Left shoulder pain after fall <3 weeks>' },
          { token: '9a2f1b65-3c4d-4e5f-8a6b-7c8d9e0f1a2b', name: 'Preferred practitioner', type: 'text', value: 'Dr "Sam" Lee & team' },
        ],
      },
    ],
  },
  created_at: '2024-02-01T23:10:44Z',
  updated_at: '2026-11-20T04:31:09Z',
  archived_at: null,
  deleted_at: null,
  merged_at: null,
  merged_with_patient: null,
};
