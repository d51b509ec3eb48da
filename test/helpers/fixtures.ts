// The fixtures every test shares: users created with cheap argon2 parameters, a clinic's scoped
// handle opened the way the app opens it, the steps of a browser signing in, an app listening on
// loopback with throwaway routes that need a user, and the session rows behind a cookie.
import type { FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { buildTestApp, type TestApp } from './app.ts';
import { createHttpClient, type HttpClient, type HttpResponse } from './http-client.ts';
import { requireUser } from '../../src/auth/guards.ts';
import { csrfToken } from '../../src/auth/csrf.ts';
import { AUTH_CHANGED_CHANNEL } from '../../src/auth/session/cache.ts';
import { createPasswordHasher } from '../../src/auth/password/hasher.ts';
import { generateKeySpec } from '../../src/infra/crypto.ts';
import { createUser } from '../../src/auth/users.ts';
import type { Role } from '../../src/auth/tables.ts';
import type { Runtime } from '../../src/runtime.ts';
import type { Clinic } from '../../src/tenancy/clinic.ts';
import type { TenantDb } from '../../src/tenancy/tenant-database.ts';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export const PATIENT_PATH = '/patients?patient_id=836447129235883061';
export const PASSWORD = 'correct horse battery staple';
/** Tests hash with 64 KiB: the parameters are not what is under test, and argon2 at 64 MiB is slow. */
export const TEST_AUTH_ENV = { PASSWORD_HASH_MEMORY_KIB: '64' };

/** Throwaway pages that need a user and echo who it is. */
export function registerEchoRoutes(app: FastifyInstance): void {
  const echo = async (request: { user: unknown; url: string }) => ({ user: request.user, url: request.url });
  app.get('/__test/whoami', { preHandler: requireUser }, echo);
  app.post('/__test/whoami', { preHandler: requireUser }, echo);
  app.get('/__test/csrf', { preHandler: requireUser }, async (request, reply) => ({ token: csrfToken(request, reply) }));
  // The real patient page may exist by now; the sign-in redirect is what these tests are about.
  if (!app.hasRoute({ method: 'GET', url: '/patients' })) app.get('/patients', { preHandler: requireUser }, echo);
  // Anything else needs a user too, so hostile paths reach requireUser.
  app.get('/*', { preHandler: requireUser }, echo);
}

export interface AuthTestApp extends TestApp {
  port: string;
  origin(slug: string): string;
}

export async function startAuthApp(t: Teardown, options: { env?: Record<string, string> } = {}): Promise<AuthTestApp> {
  const testApp = await buildTestApp(t, { listen: true, env: { ...TEST_AUTH_ENV, ...options.env }, extend: registerEchoRoutes });
  const port = new URL(testApp.address!).port;
  return { ...testApp, port, origin: (slug) => `http://${slug}.localhost:${port}` };
}

/**
 * A production-configured app behind a trusted HTTPS proxy, with clinic `acme` and its user
 * jo@acme.example, and a browser that speaks HTTPS to it (X-Forwarded-Proto).
 */
export async function startHttpsClinic(t: Teardown) {
  const env = {
    SIDECHART_ENV: 'production',
    REGION: 'local',
    SESSION_SECRET: 's'.repeat(48),
    SIDECHART_ENCRYPTION_KEYS: generateKeySpec('k1'),
    CLINIKO_CONTACT_EMAIL: 'ops@sidechart.test',
    TRUSTED_PROXIES: '127.0.0.1',
    PASSWORD_HASH_MEMORY_KIB: '19456',
  };
  const app = await startAuthApp(t, { env });
  await app.runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await addUser(app.runtime, 'acme', { email: 'jo@acme.example' });
  const http = client({ treatAsHttps: true, defaultHeaders: { 'x-forwarded-proto': 'https' } }, t);
  return { ...app, http };
}

/** A clinic opened the way operators' commands open it (tenancy/clinic.ts). */
export function openClinic(runtime: Pick<Runtime, 'clinics'>, slug: string): Promise<Clinic> {
  return runtime.clinics.open(slug, { for: 'operator' });
}

export async function tenantDb(runtime: Pick<Runtime, 'clinics'>, slug: string): Promise<TenantDb> {
  return (await openClinic(runtime, slug)).db;
}

const hasher = createPasswordHasher({ memoryKib: 64 });

export async function addUser(runtime: Pick<Runtime, 'clinics'>, slug: string, input: { email: string; password?: string | null; role?: Role; name?: string }) {
  const db = await tenantDb(runtime, slug);
  const password = input.password === undefined ? PASSWORD : input.password;
  return createUser(db, {
    email: input.email,
    role: input.role ?? 'staff',
    name: input.name ?? '',
    passwordHash: password === null ? null : await hasher.hash(password),
  });
}

export function client(options: Parameters<typeof createHttpClient>[0] = {}, t?: Teardown): HttpClient {
  const c = createHttpClient(options);
  t?.teardown(() => c.close());
  return c;
}

export function csrfTokenIn(page: HttpResponse): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(page.body);
  if (!match) throw new Error(`no CSRF token in ${page.status} ${page.url}: ${page.body.slice(0, 300)}`);
  return match[1]!;
}

/** GET /login then POST the form; returns the POST's response (303 on success). */
export async function signInWithPassword(http: HttpClient, origin: string, email: string, password = PASSWORD, headers: Record<string, string> = {}): Promise<HttpResponse> {
  const page = await http.get(`${origin}/login`, { headers });
  return http.post(`${origin}/login`, { email, password, _csrf: csrfTokenIn(page) }, { headers });
}

/** The session cookie's value in the jar for a host, or undefined. */
export function sessionCookie(http: HttpClient, hostname: string, name = 'sidechart'): string | undefined {
  return http.cookies(hostname).find((c) => c.name === name)?.value;
}

export interface SessionRow {
  id: string;
  data: Record<string, unknown>;
  expires_at: Date;
  updated_at: Date;
}

export async function sessionRows(runtime: Runtime, slug: string): Promise<SessionRow[]> {
  const db = await tenantDb(runtime, slug);
  const rows = await db.selectFrom('sessions').select(['id', 'data', 'expires_at', 'updated_at']).orderBy('created_at').execute();
  return rows.map((r) => ({ ...r, data: r.data as Record<string, unknown> }));
}

/**
 * Resolves once this app's session cache has heard every auth change committed so far (sign-outs,
 * users disabled, settings, direct SQL in a test): notifications arrive in commit order, so a
 * barrier notification sent now arrives after them. Tests that change auth tables behind the app's
 * back call it before their next request; the app itself is never told more than production is.
 */
export async function authChangesSettled(runtime: Pick<Runtime, 'sessionCache' | 'databases'>, regionId = 'local'): Promise<void> {
  const payload = `barrier-${randomUUID()} *`;
  const heard = new Promise<void>((resolve) => {
    const onDropped = (reason: string) => {
      if (reason !== payload) return;
      runtime.sessionCache.events.off('dropped', onDropped);
      resolve();
    };
    runtime.sessionCache.events.on('dropped', onDropped);
  });
  await runtime.databases.regions.get(regionId)!.pool.query('select pg_notify($1, $2)', [AUTH_CHANGED_CHANNEL, payload]);
  await heard;
}

/** Moves a stored session's clock fields into the past (no sleeping in tests). */
export async function ageSession(runtime: Runtime, slug: string, id: string, change: { signedInAgoMs?: number; seenAgoMs?: number }): Promise<void> {
  const db = await tenantDb(runtime, slug);
  const now = Date.now();
  let data = sql<string>`data`;
  if (change.signedInAgoMs !== undefined) data = sql`jsonb_set(${data}, '{signedInAt}', to_jsonb(${now - change.signedInAgoMs}::bigint))`;
  if (change.seenAgoMs !== undefined) data = sql`jsonb_set(${data}, '{seenAt}', to_jsonb(${now - change.seenAgoMs}::bigint))`;
  await db.updateTable('sessions').set({ data }).where('id', '=', id).execute();
  await authChangesSettled(runtime);
}

/** Session ID from a cookie value `<id>.<signature>` (the id has dots of its own). */
export function sessionIdOf(cookieValue: string): string {
  return decodeURIComponent(cookieValue).slice(0, decodeURIComponent(cookieValue).lastIndexOf('.'));
}

/** A browser whose requests for the public port reach the app (see proxiedBrowsers). */
export interface ProxiedBrowser {
  http: HttpClient;
  get(url: string, options?: { json?: boolean; crossSite?: boolean }): Promise<HttpResponse>;
}

/**
 * For an app whose links name `publicPort` (PUBLIC_PORT), where nothing listens: browsers that send
 * requests for that port to the app's real address, the way a reverse proxy would, and the clinic
 * origins as the app writes them.
 */
export function proxiedBrowsers(t: Teardown, publicPort: string, appAddress: string) {
  const appPort = new URL(appAddress).port;
  const toApp = (url: string): string => {
    const u = new URL(url);
    if (u.hostname.endsWith('localhost') && u.port === publicPort) u.port = appPort;
    return u.href;
  };
  return {
    origin: (slug: string) => `http://${slug}.localhost:${publicPort}`,
    browser(): ProxiedBrowser {
      const http = client({}, t);
      return {
        http,
        get: (url, options = {}) =>
          http.get(toApp(url), { ...(options.json ? { headers: { accept: 'application/json' } } : {}), ...(options.crossSite ? { crossSite: true } : {}) }),
      };
    },
  };
}
