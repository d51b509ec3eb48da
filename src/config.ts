// Configuration is read from the environment once, validated, and frozen into one typed object.
// Code reads `Config`, never process.env. A bad value stops the process with one line naming the
// variable (see server.ts and cli/main.ts).
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Type } from 'typebox';
import { shapeOf } from './infra/schemas.ts';
import { isValidHostname } from './tenancy/host.ts';

export type SidechartEnv = 'development' | 'production';

export interface RegionConfig {
  id: string;
  databaseUrl: string;
  /**
   * Direct (not PgBouncer) URL for the region's LISTEN connection (the session cache hears sign-outs
   * there): `id=<url> listen=<direct url>`. Defaults to databaseUrl, fine when that is direct.
   */
  listenUrl?: string;
}

/** A platform-wide OpenID provider (Google, Microsoft, any issuer the operator configures). */
export interface PlatformProviderConfig {
  /** URL-safe id: /login/sso/<id>, the callback path on the auth host. */
  id: string;
  /** Shown on sign-in buttons ("Sign in with <name>"). */
  name: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
}

export interface Config {
  env: SidechartEnv;
  port: number;
  listenHost: string;
  /**
   * Deadlines on the client's side of every connection (Node's HTTP server): the whole request
   * (headers and body), the headers alone, an idle keep-alive connection, an idle socket.
   */
  http: { requestTimeoutMs: number; headersTimeoutMs: number; keepAliveTimeoutMs: number; socketTimeoutMs: number };
  /**
   * On SIGTERM (server.ts): how long in-flight requests may take to finish once new ones are
   * refused; past it the process exits anyway, with code 1. Below the orchestrator's own grace
   * period (Kubernetes: 30 s), so the deadline is ours and logged rather than a SIGKILL.
   */
  shutdownGraceMs: number;
  /** When the instance refuses work (infra/load.ts): overload thresholds and per-address request limits. */
  load: {
    maxEventLoopDelayMs: number;
    maxEventLoopUtilization: number;
    maxHeapUsedBytes: number;
    retryAfterSeconds: number;
    signInPerMinute: number;
    anonymousPatientPerMinute: number;
    /** Sign-up submissions (POST /signup on the platform host) per client address and hour. */
    signUpPerHour: number;
  };
  /** Prometheus /metrics on its own port (0: off), never on clinic hosts. */
  metricsPort: number;
  metricsHost: string;
  baseDomains: string[];
  /** Scheme used in links we build (redirect URIs, the Cliniko button URL). */
  publicScheme: 'http' | 'https';
  /** Port shown in links we build; null when it is the scheme's default. */
  publicPort: number | null;
  /** Control-plane database. null means: start the embedded PostgreSQL under dataDir. */
  databaseUrl: string | null;
  /** Direct (not PgBouncer) URL for LISTEN on the control database; defaults to databaseUrl. */
  controlListenUrl: string | null;
  /**
   * Extra regions (id=url) from SIDECHART_REGIONS and the SIDECHART_REGIONS_FILE secret file;
   * region `local` always points at the control database. The file is read again at run time when
   * a region is added (`sidechart regions add`), so a region joins without a restart.
   */
  regions: RegionConfig[];
  regionsFile: string | null;
  /**
   * The regions that came from the regions file: recorded in the control plane only by
   * `sidechart regions add` (which checks them first), never at boot like SIDECHART_REGIONS ones.
   */
  fileRegionIds: readonly string[];
  defaultRegion: string;
  /**
   * REGION: the region this instance serves. Its clinics' requests are served here; a request for
   * a clinic placed elsewhere is forwarded to that region (regionForwardUrls) and never served from
   * here. `all` (development only, the default there) serves every region from one process.
   */
  region: string;
  /** REGION_FORWARD_URLS (id=url): each other region's internal ingress, where its clinics' requests go. */
  regionForwardUrls: ReadonlyMap<string, string>;
  dataDir: string;
  embeddedPgPort: number;
  trustedProxies: string[];
  logLevel: string;
  db: {
    poolMax: number;
    statementTimeoutMs: number;
    connectionTimeoutMs: number;
    maxLifetimeSeconds: number;
    /** A pooled connection is closed after this many uses (0: never): PostgreSQL backends cache the catalog of every clinic they touch. */
    maxUses: number;
    /** Hot-path queries as named prepared statements (off behind a PgBouncer without prepared-statement support). */
    preparedStatements: boolean;
  };
  tenantCacheTtlMs: number;
  /** Most clinics (and unknown slugs) the directory cache holds at once. */
  tenantCacheMax: number;
  /** Signed-in sessions held in process (auth/session/cache.ts): how many, and for how long at most. */
  sessionCache: { max: number; ttlMs: number };
  sessionSecret: string | null;
  encryptionKeys: string | null;
  cliniko: {
    apiBase: string;
    contactEmail: string;
    simulator: boolean;
    simulatorPort: number;
    /** Largest answer read from Cliniko; a longer one is dropped as it arrives and the call fails as bad_response. */
    maxResponseBytes: number;
  };
  /** The patient button's sync policy (src/patients/sync.ts explains it). */
  patients: {
    /** Wait at most this long for Cliniko when the patient is not held yet. */
    fetchBudgetMs: number;
    /** Wait at most this long for a refresh of a stale patient before showing what is held. */
    refreshBudgetMs: number;
    /** A refresh that outlives its page carries on in the background until this deadline. */
    syncDeadlineMs: number;
    /** A record fetched less than this long ago is shown without asking Cliniko. */
    freshSeconds: number;
    /** After a failed refresh, do not ask Cliniko again for this long (the page shows the failure). */
    retryAfterFailureSeconds: number;
  };
  demo: boolean;
  /** PLATFORM_OIDC_PROVIDERS: registered at boot, callback on the reserved host auth.<base domain>. */
  platformProviders: readonly PlatformProviderConfig[];
  oidc: {
    /** How long a discovered issuer configuration (per clinic) is reused before discovery runs again. */
    discoveryTtlMs: number;
    /** Deadline for every request to an identity provider (discovery, token endpoint, JWKS). */
    httpTimeoutMs: number;
    /** http:// issuers (loopback identity providers in development and tests); never in production. */
    allowHttpIssuers: boolean;
    /**
     * A platform provider whose discovery failed is tried again after minMs, then twice as long
     * after each further failure, at most maxMs apart (and at once when someone asks to sign in
     * with it and the wait is over).
     */
    discoveryRetry: { minMs: number; maxMs: number };
  };
  /** Outgoing e-mail (src/infra/mail.ts): invitations. smtp null: no e-mail is sent, links are only shown. */
  mail: {
    smtp: { host: string; port: number; secure: boolean; requireTls: boolean; user: string | null; password: string | null } | null;
    from: string;
    /** Deadline for connecting, the greeting and each SMTP exchange. */
    timeoutMs: number;
  };
  /** How long a staff invitation link can be used (src/auth/invitations.ts). */
  invitationTtlHours: number;
  auth: {
    /** argon2id memory cost of password hashes (KiB); low values only make sense in tests. */
    passwordHashMemoryKib: number;
    /** Hard: failures for one account from one address (IPv6: its /64) before that pair is locked. */
    loginMaxFailuresPerAccountAndAddress: number;
    /** Soft: failures for one account from any addresses before short locks (minutes at most). */
    loginMaxFailuresPerAccount: number;
    /** Failed password sign-ins per client address at one clinic (IPv6: per /64) before it is locked, with backoff. */
    loginMaxFailuresPerIp: number;
  };
}

export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.variable = variable;
  }
}

type Env = Record<string, string | undefined>;

function text(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === '' ? undefined : value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(name, `must be a whole number from ${min} to ${max} (got "${raw}")`);
  }
  return Number(raw);
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')} (got "${raw}")`);
  }
  return raw as T;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(name, `must be true or false (got "${raw}")`);
}

function postgresUrl(name: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, 'is not a URL (expected postgres://user@host:port/database)');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(name, `must be a postgres:// URL (got scheme "${url.protocol}")`);
  }
  return raw;
}

const REGION_ID = /^[a-z][a-z0-9-]{0,30}$/;

function httpTimeouts(env: Env): Config['http'] {
  const requestTimeoutMs = integer(env, 'HTTP_REQUEST_TIMEOUT_MS', 30_000, 100, 600_000);
  const headersTimeoutMs = integer(env, 'HTTP_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000);
  // Node refuses a headers deadline past the whole request's.
  if (headersTimeoutMs > requestTimeoutMs) throw new ConfigError('HTTP_HEADERS_TIMEOUT_MS', `must not exceed HTTP_REQUEST_TIMEOUT_MS (${requestTimeoutMs})`);
  return {
    requestTimeoutMs,
    headersTimeoutMs,
    // Above the idle timeout of the load balancers in front (60 s is common), so they close first.
    keepAliveTimeoutMs: integer(env, 'HTTP_KEEP_ALIVE_TIMEOUT_MS', 65_000, 100, 600_000),
    socketTimeoutMs: integer(env, 'HTTP_SOCKET_TIMEOUT_MS', 120_000, 1_000, 3_600_000),
  };
}

/**
 * `id=postgres-url [listen=direct-postgres-url]` entries (a comma list, or one per line in the
 * regions file; `#` starts a comment).
 */
function parseRegionEntries(variable: string, entries: readonly string[], into: RegionConfig[] = []): RegionConfig[] {
  const regions = into;
  for (const entry of entries.map((s) => s.trim()).filter((s) => s !== '' && !s.startsWith('#'))) {
    const eq = entry.indexOf('=');
    const id = entry.slice(0, eq).trim();
    if (eq < 0 || !REGION_ID.test(id)) {
      // Never the URL itself: it may carry a password.
      throw new ConfigError(variable, `entries are id=postgres-url with a lowercase id (bad entry near "${id.slice(0, 32) || entry.slice(0, 12)}")`);
    }
    if (id === 'local') throw new ConfigError(variable, 'region id "local" is reserved for DATABASE_URL');
    if (regions.some((r) => r.id === id)) throw new ConfigError(variable, `region "${id}" is listed twice`);
    const [url, ...options] = entry.slice(eq + 1).trim().split(/\s+/);
    const region: RegionConfig = { id, databaseUrl: postgresUrl(variable, url ?? '') };
    for (const option of options) {
      if (!option.startsWith('listen=')) throw new ConfigError(variable, `region "${id}": after the URL only listen=<direct postgres URL> may follow`);
      region.listenUrl = postgresUrl(variable, option.slice('listen='.length));
    }
    regions.push(region);
  }
  return regions;
}

function parseRegions(raw: string | undefined): RegionConfig[] {
  return raw === undefined ? [] : parseRegionEntries('SIDECHART_REGIONS', raw.split(','));
}

/**
 * Every region configured: SIDECHART_REGIONS plus the regions file, read now. The runtime calls
 * this again (with the configuration's own values) when a region is added while it runs.
 */
export function readRegionConfig(inline: readonly RegionConfig[], regionsFile: string | null): RegionConfig[] {
  const regions = [...inline];
  if (regionsFile === null) return regions;
  let content: string;
  try {
    content = readFileSync(regionsFile, 'utf8');
  } catch (error) {
    throw new ConfigError('SIDECHART_REGIONS_FILE', `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}: ${regionsFile})`);
  }
  return parseRegionEntries('SIDECHART_REGIONS_FILE', content.split(/\r?\n/), regions);
}

function parseForwardUrls(raw: string | undefined, production: boolean): Map<string, string> {
  const urls = new Map<string, string>();
  if (raw === undefined) return urls;
  for (const entry of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = entry.indexOf('=');
    const id = entry.slice(0, eq).trim();
    if (eq < 0 || !(REGION_ID.test(id))) throw new ConfigError('REGION_FORWARD_URLS', `entries are region-id=https://ingress (bad entry near "${id.slice(0, 32) || entry.slice(0, 12)}")`);
    if (urls.has(id)) throw new ConfigError('REGION_FORWARD_URLS', `region "${id}" is listed twice`);
    let url: URL;
    try {
      url = new URL(entry.slice(eq + 1).trim());
    } catch {
      throw new ConfigError('REGION_FORWARD_URLS', `the address for "${id}" is not a URL`);
    }
    if (url.protocol !== 'https:' && (production || url.protocol !== 'http:')) throw new ConfigError('REGION_FORWARD_URLS', `the address for "${id}" must be https://`);
    if (url.pathname !== '/' || url.search !== '' || url.username !== '' || url.password !== '') {
      throw new ConfigError('REGION_FORWARD_URLS', `the address for "${id}" must be an origin (scheme, host, port) without a path or credentials`);
    }
    urls.set(id, url.origin);
  }
  return urls;
}

function parseProxies(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of list) {
    if (!/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(item)) {
      throw new ConfigError('TRUSTED_PROXIES', `"${item}" is not an IP address or CIDR range`);
    }
  }
  return list;
}

export const PROVIDER_ID_PATTERN = '^[a-z][a-z0-9-]{0,30}$';
const PROVIDER_ID = new RegExp(PROVIDER_ID_PATTERN);

const NonEmpty = Type.String({ pattern: '\\S' });
/** PLATFORM_OIDC_PROVIDERS: a JSON array of these. */
const PlatformProviderEntry = Type.Object({ id: NonEmpty, name: NonEmpty, issuer: NonEmpty, clientId: NonEmpty, clientSecret: NonEmpty });
const platformProviderEntry = shapeOf(PlatformProviderEntry);

/** An issuer identifier: an absolute http(s) URL without query or fragment (OIDC Discovery 1.0). */
export function checkIssuerUrl(raw: string, allowHttp: boolean): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'https:' && !(allowHttp && url.protocol === 'http:')) {
    return allowHttp ? 'must be an http(s) URL' : 'must be an https:// URL';
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    return 'must not carry a query, fragment or credentials';
  }
  return null;
}

function parsePlatformProviders(raw: string | undefined, allowHttp: boolean): PlatformProviderConfig[] {
  const name = 'PLATFORM_OIDC_PROVIDERS';
  if (raw === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError(name, 'is not valid JSON (expected [{"id","name","issuer","clientId","clientSecret"}, ...])');
  }
  if (!Array.isArray(parsed)) throw new ConfigError(name, 'must be a JSON array of providers');
  const providers: PlatformProviderConfig[] = [];
  for (const [index, entry] of (parsed as unknown[]).entries()) {
    const where = `entry ${index + 1}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ConfigError(name, `${where} is not an object`);
    // Name the field, never the value (it may be the secret).
    if (!platformProviderEntry.check(entry)) throw new ConfigError(name, `${where} needs a non-empty "${platformProviderEntry.problemField(entry) ?? 'id'}"`);
    const field = (key: keyof typeof entry): string => entry[key].trim();
    const id = field('id');
    if (!PROVIDER_ID.test(id)) throw new ConfigError(name, `${where}: id must be lowercase letters, digits and dashes (got "${id.slice(0, 32)}")`);
    if (id === 'complete') throw new ConfigError(name, `${where}: id "complete" is reserved (/login/sso/complete)`);
    if (providers.some((p) => p.id === id)) throw new ConfigError(name, `provider "${id}" is listed twice`);
    const issuer = field('issuer');
    const problem = checkIssuerUrl(issuer, allowHttp);
    if (problem !== null) throw new ConfigError(name, `provider "${id}": issuer ${problem}`);
    const displayName = field('name');
    if (displayName.length > 60) throw new ConfigError(name, `provider "${id}": name is longer than 60 characters`);
    // Never echo the secret, not even in part.
    providers.push({ id, name: displayName, issuer, clientId: field('clientId'), clientSecret: field('clientSecret') });
  }
  return providers;
}

function patientSettings(env: Env): Config['patients'] {
  const fetchBudgetMs = integer(env, 'PATIENT_FETCH_BUDGET_MS', 2_000, 50, 60_000);
  const refreshBudgetMs = integer(env, 'PATIENT_REFRESH_BUDGET_MS', 300, 0, 60_000);
  const syncDeadlineMs = integer(env, 'PATIENT_SYNC_DEADLINE_MS', 10_000, 50, 300_000);
  if (refreshBudgetMs > fetchBudgetMs) throw new ConfigError('PATIENT_REFRESH_BUDGET_MS', `must not exceed PATIENT_FETCH_BUDGET_MS (${fetchBudgetMs})`);
  if (syncDeadlineMs < fetchBudgetMs) throw new ConfigError('PATIENT_SYNC_DEADLINE_MS', `must be at least PATIENT_FETCH_BUDGET_MS (${fetchBudgetMs})`);
  return {
    fetchBudgetMs,
    refreshBudgetMs,
    syncDeadlineMs,
    freshSeconds: integer(env, 'PATIENT_FRESH_SECONDS', 300, 0, 86_400),
    retryAfterFailureSeconds: integer(env, 'PATIENT_SYNC_RETRY_SECONDS', 30, 0, 3_600),
  };
}

function discoveryRetry(env: Env): Config['oidc']['discoveryRetry'] {
  const minMs = integer(env, 'OIDC_DISCOVERY_RETRY_MIN_MS', 5_000, 100, 3_600_000);
  const maxMs = integer(env, 'OIDC_DISCOVERY_RETRY_MAX_MS', 300_000, 100, 86_400_000);
  if (maxMs < minMs) throw new ConfigError('OIDC_DISCOVERY_RETRY_MAX_MS', `must be at least OIDC_DISCOVERY_RETRY_MIN_MS (${minMs})`);
  return { minMs, maxMs };
}

const MAIL_ADDRESS = /^[^\s@()<>,;]+@[^\s@()<>,;]+$/;

function mailSettings(env: Env, production: boolean): Config['mail'] {
  const host = text(env, 'SMTP_HOST');
  const timeoutMs = integer(env, 'SMTP_TIMEOUT_MS', 10_000, 100, 120_000);
  const fromRaw = text(env, 'MAIL_FROM');
  // "Name <address>" or a bare address; checked here so a typo stops the boot, not the first invitation.
  const fromAddress = fromRaw === undefined ? undefined : (/<([^<>]+)>\s*$/.exec(fromRaw)?.[1] ?? fromRaw);
  if (fromAddress !== undefined && !MAIL_ADDRESS.test(fromAddress)) throw new ConfigError('MAIL_FROM', `"${fromRaw}" is not an e-mail address`);
  if (host === undefined) {
    for (const name of ['SMTP_PORT', 'SMTP_SECURE', 'SMTP_REQUIRE_TLS', 'SMTP_USER', 'SMTP_PASSWORD']) {
      if (text(env, name) !== undefined) throw new ConfigError(name, 'is set but SMTP_HOST is not');
    }
    return { smtp: null, from: fromRaw ?? 'Sidechart <no-reply@sidechart.invalid>', timeoutMs };
  }
  if (!isValidHostname(host.toLowerCase()) && isIP(host) === 0) throw new ConfigError('SMTP_HOST', `"${host}" is not a host name`);
  if (fromRaw === undefined) throw new ConfigError('MAIL_FROM', 'is required when SMTP_HOST is set');
  const secure = bool(env, 'SMTP_SECURE', false);
  const user = text(env, 'SMTP_USER') ?? null;
  const password = text(env, 'SMTP_PASSWORD') ?? null;
  if ((user === null) !== (password === null)) throw new ConfigError(user === null ? 'SMTP_USER' : 'SMTP_PASSWORD', 'SMTP_USER and SMTP_PASSWORD go together');
  return {
    smtp: {
      host,
      port: integer(env, 'SMTP_PORT', secure ? 465 : 587, 1, 65535),
      secure,
      // Without implicit TLS, production insists on STARTTLS: invitation links are bearer secrets.
      requireTls: bool(env, 'SMTP_REQUIRE_TLS', production),
      user,
      password,
    },
    from: fromRaw,
    timeoutMs,
  };
}

export function loadConfig(env: Env = process.env): Config {
  const mode = oneOf(env, 'SIDECHART_ENV', ['development', 'production'] as const, 'development');
  const production = mode === 'production';

  const baseDomains = (text(env, 'BASE_DOMAIN') ?? 'localhost').split(',').map((d) => d.trim().toLowerCase().replace(/\.$/, ''));
  for (const domain of baseDomains) {
    if (!isValidHostname(domain)) throw new ConfigError('BASE_DOMAIN', `"${domain}" is not a host name`);
  }
  if (new Set(baseDomains).size !== baseDomains.length) throw new ConfigError('BASE_DOMAIN', 'lists a domain twice');

  const port = integer(env, 'PORT', 3000, 1, 65535);
  const databaseUrlRaw = text(env, 'DATABASE_URL');
  const databaseUrl = databaseUrlRaw === undefined ? null : postgresUrl('DATABASE_URL', databaseUrlRaw);
  if (production && databaseUrl === null) throw new ConfigError('DATABASE_URL', 'is required in production');

  const sessionSecret = text(env, 'SESSION_SECRET') ?? null;
  if (sessionSecret !== null && sessionSecret.length < 32) {
    throw new ConfigError('SESSION_SECRET', 'must be at least 32 characters');
  }
  if (production && sessionSecret === null) throw new ConfigError('SESSION_SECRET', 'is required in production');
  const encryptionKeys = text(env, 'SIDECHART_ENCRYPTION_KEYS') ?? null;
  if (production && encryptionKeys === null) {
    throw new ConfigError('SIDECHART_ENCRYPTION_KEYS', 'is required in production (kid:base64key, see README)');
  }

  const contactEmail = text(env, 'CLINIKO_CONTACT_EMAIL');
  if (contactEmail !== undefined && !/^[^\s@()<>]+@[^\s@()<>]+\.[^\s@()<>]+$/.test(contactEmail)) {
    throw new ConfigError('CLINIKO_CONTACT_EMAIL', `"${contactEmail}" is not an e-mail address`);
  }
  if (production && contactEmail === undefined) {
    throw new ConfigError('CLINIKO_CONTACT_EMAIL', 'is required in production (Cliniko asks for it in the User-Agent)');
  }
  const simulator = bool(env, 'CLINIKO_SIMULATOR', !production);
  if (production && simulator) throw new ConfigError('CLINIKO_SIMULATOR', 'cannot be on in production');
  const simulatorPort = integer(env, 'CLINIKO_SIMULATOR_PORT', 4001, 1, 65535);
  // With the development simulator on, the API base points at it unless configured otherwise.
  const apiBase = text(env, 'CLINIKO_API_BASE') ?? (simulator ? `http://api.{shard}.cliniko.localhost:${simulatorPort}/v1` : 'https://api.{shard}.cliniko.com/v1');
  if (!apiBase.includes('{shard}')) throw new ConfigError('CLINIKO_API_BASE', 'must contain {shard}');
  if (production && !apiBase.startsWith('https://')) throw new ConfigError('CLINIKO_API_BASE', 'must be https:// in production');

  const publicScheme = oneOf(env, 'PUBLIC_SCHEME', ['http', 'https'] as const, production ? 'https' : 'http');
  if (production && publicScheme !== 'https') throw new ConfigError('PUBLIC_SCHEME', 'must be https in production');
  const defaultPublicPort = production ? null : port;
  const publicPortRaw = text(env, 'PUBLIC_PORT');
  const publicPort = publicPortRaw === undefined ? defaultPublicPort : integer(env, 'PUBLIC_PORT', 443, 1, 65535);

  const inlineRegions = parseRegions(text(env, 'SIDECHART_REGIONS'));
  const regionsFile = text(env, 'SIDECHART_REGIONS_FILE') ?? null;
  const regions = readRegionConfig(inlineRegions, regionsFile);
  const known = (id: string) => id === 'local' || regions.some((r) => r.id === id);
  const defaultRegion = text(env, 'DEFAULT_REGION') ?? 'local';
  if (!known(defaultRegion)) {
    throw new ConfigError('DEFAULT_REGION', `"${defaultRegion}" is not a configured region`);
  }
  const region = text(env, 'REGION') ?? (production ? undefined : 'all');
  if (region === undefined) throw new ConfigError('REGION', 'is required in production: the id of the region this instance serves');
  if (region === 'all' && production) throw new ConfigError('REGION', 'cannot be "all" in production: each instance serves its own region');
  if (region !== 'all' && !known(region)) throw new ConfigError('REGION', `"${region}" is not a configured region (local, SIDECHART_REGIONS or SIDECHART_REGIONS_FILE)`);
  const regionForwardUrls = parseForwardUrls(text(env, 'REGION_FORWARD_URLS'), production);
  if (regionForwardUrls.has(region)) throw new ConfigError('REGION_FORWARD_URLS', `names this instance's own region "${region}"`);

  const allowHttpIssuers = bool(env, 'OIDC_ALLOW_HTTP_ISSUERS', !production);
  if (production && allowHttpIssuers) throw new ConfigError('OIDC_ALLOW_HTTP_ISSUERS', 'cannot be on in production');
  const platformProviders = parsePlatformProviders(text(env, 'PLATFORM_OIDC_PROVIDERS'), allowHttpIssuers);

  // OWASP's floor for argon2id is 19 MiB; tests may go lower to stay fast, production may not.
  const passwordHashMemoryKib = integer(env, 'PASSWORD_HASH_MEMORY_KIB', 65_536, 64, 4_194_304);
  if (production && passwordHashMemoryKib < 19_456) {
    throw new ConfigError('PASSWORD_HASH_MEMORY_KIB', `must be at least 19456 in production (got ${passwordHashMemoryKib})`);
  }

  const mail = mailSettings(env, production);

  return Object.freeze({
    env: mode,
    port,
    listenHost: text(env, 'LISTEN_HOST') ?? (production ? '0.0.0.0' : '127.0.0.1'),
    http: httpTimeouts(env),
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_MS', 25_000, 100, 3_600_000),
    load: {
      maxEventLoopDelayMs: integer(env, 'OVERLOAD_MAX_EVENT_LOOP_DELAY_MS', 1_000, 0, 60_000),
      // Off by default: a busy but fast loop (a benchmark) is near 100% without queueing anything.
      maxEventLoopUtilization: integer(env, 'OVERLOAD_MAX_EVENT_LOOP_UTILIZATION_PERCENT', 0, 0, 100) / 100,
      maxHeapUsedBytes: integer(env, 'OVERLOAD_MAX_HEAP_BYTES', 0, 0, 1e12),
      retryAfterSeconds: integer(env, 'OVERLOAD_RETRY_AFTER_SECONDS', 10, 1, 3_600),
      signInPerMinute: integer(env, 'RATE_LIMIT_SIGN_IN_PER_MINUTE', 30, 1, 1_000_000),
      anonymousPatientPerMinute: integer(env, 'RATE_LIMIT_ANONYMOUS_PATIENT_PER_MINUTE', 120, 1, 1_000_000),
      signUpPerHour: integer(env, 'RATE_LIMIT_SIGN_UP_PER_HOUR', 20, 1, 1_000_000),
    },
    metricsPort: integer(env, 'METRICS_PORT', 9464, 0, 65535),
    metricsHost: text(env, 'METRICS_HOST') ?? (production ? '0.0.0.0' : '127.0.0.1'),
    baseDomains,
    publicScheme,
    publicPort: publicPort === (publicScheme === 'https' ? 443 : 80) ? null : publicPort,
    databaseUrl,
    controlListenUrl: text(env, 'CONTROL_LISTEN_URL') === undefined ? null : postgresUrl('CONTROL_LISTEN_URL', text(env, 'CONTROL_LISTEN_URL')!),
    regions,
    regionsFile,
    fileRegionIds: regions.slice(inlineRegions.length).map((r) => r.id),
    defaultRegion,
    region,
    regionForwardUrls,
    dataDir: text(env, 'SIDECHART_DATA_DIR') ?? '.data',
    embeddedPgPort: integer(env, 'EMBEDDED_PG_PORT', 5488, 1, 65535),
    trustedProxies: parseProxies(text(env, 'TRUSTED_PROXIES')),
    logLevel: oneOf(env, 'LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
    db: {
      poolMax: integer(env, 'DB_POOL_MAX', 10, 1, 1000),
      statementTimeoutMs: integer(env, 'DB_STATEMENT_TIMEOUT_MS', 15_000, 100, 3_600_000),
      connectionTimeoutMs: integer(env, 'DB_CONNECTION_TIMEOUT_MS', 5_000, 100, 120_000),
      maxLifetimeSeconds: integer(env, 'DB_MAX_LIFETIME_SECONDS', 1_800, 0, 86_400),
      maxUses: integer(env, 'DB_MAX_USES', 500, 0, 10_000_000),
      preparedStatements: bool(env, 'DB_PREPARED_STATEMENTS', true),
    },
    tenantCacheTtlMs: integer(env, 'TENANT_CACHE_TTL_MS', 10_000, 0, 3_600_000),
    tenantCacheMax: integer(env, 'TENANT_CACHE_MAX', 20_000, 1, 10_000_000),
    sessionCache: {
      max: integer(env, 'SESSION_CACHE_MAX', 10_000, 0, 10_000_000),
      ttlMs: integer(env, 'SESSION_CACHE_TTL_MS', 30_000, 0, 3_600_000),
    },
    sessionSecret,
    encryptionKeys,
    cliniko: {
      apiBase,
      contactEmail: contactEmail ?? 'dev@sidechart.invalid',
      simulator,
      simulatorPort,
      // A patient record is a few KiB and a list page of 100 well under 1 MiB: 2 MiB leaves room
      // for long notes and custom fields while a runaway answer costs little memory.
      maxResponseBytes: integer(env, 'CLINIKO_MAX_RESPONSE_BYTES', 2 * 1024 * 1024, 64 * 1024, 256 * 1024 * 1024),
    },
    patients: patientSettings(env),
    demo: bool(env, 'SIDECHART_DEMO', !production),
    platformProviders: Object.freeze(platformProviders),
    oidc: {
      discoveryTtlMs: integer(env, 'OIDC_DISCOVERY_TTL_MS', 3_600_000, 0, 86_400_000),
      httpTimeoutMs: integer(env, 'OIDC_HTTP_TIMEOUT_MS', 10_000, 100, 120_000),
      allowHttpIssuers,
      discoveryRetry: discoveryRetry(env),
    },
    mail,
    invitationTtlHours: integer(env, 'INVITATION_TTL_HOURS', 168, 1, 720),
    auth: {
      passwordHashMemoryKib,
      loginMaxFailuresPerAccountAndAddress: integer(env, 'LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS', 5, 1, 1000),
      loginMaxFailuresPerAccount: integer(env, 'LOGIN_MAX_FAILURES_PER_ACCOUNT', 20, 1, 1000),
      loginMaxFailuresPerIp: integer(env, 'LOGIN_MAX_FAILURES_PER_IP', 100, 1, 100_000),
    },
  });
}
