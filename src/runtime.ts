// The composition root: everything a Sidechart process shares, built once, above the domains.
// server.ts, the CLI, the benchmark and the tests all build it here, so they cannot drift: the
// databases (one pool per region, the control plane), the tenant directory and its change
// listener, the one way to open a clinic, the tenant lifecycle service, the secrets (resolved
// once), the Cliniko client, password hashing and throttling, the single sign-on tokens and
// hand-offs, patient sync and the audit writer. Domains receive the parts they need as explicit
// dependencies (buildApp hands them out); nobody receives the whole runtime.
import type { MigrationProvider } from 'kysely/migration';
import type { Logger } from 'pino';
import { readRegionConfig, type Config } from './config.ts';
import { listenOn, type Listener } from './infra/listener.ts';
import { createRegionForwarder, type RegionForwarder } from './tenancy/forward.ts';
import { openDatabases, type Databases } from './infra/db.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './infra/embedded-postgres.ts';
import { createSecretBox, parseKeyring, type SecretBox } from './infra/crypto.ts';
import { resolveSecrets } from './infra/secrets.ts';
import { createMailer, type Mailer } from './infra/mail.ts';
import { createClinics, type Clinics } from './tenancy/clinic.ts';
import { createTenantDirectory, listenForTenantChanges, type TenantDirectory } from './tenancy/directory.ts';
import { migrateControl, tenantMigrations } from './tenancy/migrations.ts';
import { createClinicMover, type ClinicMover } from './tenancy/move.ts';
import { createRegionService, REGIONS_CHANGED_CHANNEL, type RegionService } from './tenancy/regions.ts';
import { createTenantService, type TenantService } from './tenancy/tenants.ts';
import { createSessionCache, listenForAuthChanges, type SessionCache } from './auth/session/cache.ts';
import { createSessionSweeper, type SessionSweeper } from './auth/session/sweeper.ts';
import { createPasswordHasher, type PasswordHasher } from './auth/password/hasher.ts';
import { createLoginThrottle, type LoginThrottle } from './auth/password/throttle.ts';
import { createOidcClients, type OidcClients } from './auth/sso/clinic/clients.ts';
import { createHandoffs, type Handoffs } from './auth/sso/platform/handoffs.ts';
import { createPlatformProviders, type PlatformProviders } from './auth/sso/platform/providers.ts';
import { createSsoTokens, type SsoTokens } from './auth/sso/tokens.ts';
import { createClinikoClient, type ClinikoClient } from './cliniko/client/client.ts';
import { createAuditWriter, type AuditWriter } from './patients/audit.ts';
import { createPatientSync, type PatientSync } from './patients/sync.ts';

export type RuntimeLog = Pick<Logger, 'info' | 'warn' | 'error'>;

export interface Runtime {
  config: Config;
  log: RuntimeLog;
  /** URL of the control database actually in use (the embedded one when DATABASE_URL is unset). */
  controlUrl: string;
  embedded: EmbeddedDatabase | null;
  /** Pools, for infrastructure (health, metrics) and the tenancy services below; never for routes. */
  databases: Databases;
  directory: TenantDirectory;
  /** The one way to open a clinic (tenancy/clinic.ts). */
  clinics: Clinics;
  tenants: TenantService;
  regions: RegionService;
  /** Moves a clinic between regions, step by step, resumable (tenancy/move.ts): the CLI's. */
  mover: ClinicMover;
  secrets: { sessionSecret: string; box: SecretBox };
  /** Whether this instance serves a region's clinics (REGION; `all` in development serves every one). */
  serves(regionId: string): boolean;
  /** Sends a request for a clinic of another region there (tenancy/forward.ts); null when serving all. */
  forwarder: RegionForwarder | null;
  /**
   * Reads the regions file again and opens a pool for each region configured since start (and,
   * when listening and served here, its session listener). Runs on every `regions add` (NOTIFY).
   */
  refreshRegions(): string[];
  /** Signed-in sessions in process; used only for regions whose changes this process hears (listen). */
  sessionCache: SessionCache;
  /** Deletes expired sessions of every clinic, a bounded batch a minute (running when listen is on). */
  sessionSweeper: SessionSweeper;
  cliniko: ClinikoClient;
  passwords: PasswordHasher;
  /** Built on first use: only processes that serve sign-ins need it. */
  readonly loginThrottle: LoginThrottle;
  ssoTokens: SsoTokens;
  handoffs: Handoffs;
  oidcClients: OidcClients;
  /** PLATFORM_OIDC_PROVIDERS: discovered when the app starts (sso/plugin.ts), retried while down. */
  platformProviders: PlatformProviders;
  patientSync: PatientSync;
  audit: AuditWriter;
  /** Outgoing e-mail (invitations); `configured` is false without SMTP_HOST. */
  mailer: Mailer;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  config: Config;
  log: RuntimeLog;
  applicationName: string;
  /** Listen for tenant changes made by other processes (servers do; one-shot CLI commands need not). */
  listen?: boolean;
  /** Migrate the control plane and register regions before returning. */
  migrate?: boolean;
  tenantMigrations?: MigrationProvider;
  /** For tests: the clock retry backoffs are measured on (moved instead of waited for). */
  now?: () => number;
}

export async function createRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { config, log } = options;
  let embedded: EmbeddedDatabase | null = null;
  let controlUrl = config.databaseUrl;
  if (controlUrl === null) {
    embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPgPort });
    controlUrl = embedded.url;
    log.info({ dataDir: config.dataDir, port: config.embeddedPgPort }, 'embedded PostgreSQL started');
  }
  const databases = openDatabases({
    controlUrl,
    regions: config.regions,
    db: config.db,
    applicationName: options.applicationName,
    onError: (error) => log.warn({ err: error }, 'idle database connection failed'),
  });
  const directory = createTenantDirectory({ control: databases.control, ttlMs: config.tenantCacheTtlMs, max: config.tenantCacheMax });
  const listener = options.listen
    ? listenForTenantChanges({
        // LISTEN needs a session of its own: through PgBouncer in transaction mode it would not stick.
        connectionString: config.controlListenUrl ?? controlUrl,
        directory,
        onError: (error) => log.warn({ err: error }, 'tenant change listener lost its connection'),
      })
    : null;
  const serves = (regionId: string) => config.region === 'all' || regionId === config.region;
  // Each region's sessions live in its own database, so each region's changes are heard there; an
  // instance hears only the regions it serves. Boot does not wait for them: until a listener is
  // connected the cache does not trust that region (auth/session/cache.ts), so a region that is
  // down at boot costs its own clinics a database read per request, and delays nobody.
  const sessionCache = createSessionCache(config.sessionCache);
  const sessionListeners = new Map<string, Listener>();
  const listenToRegion = (regionId: string, url: string) => {
    if (!options.listen || !serves(regionId) || sessionListeners.has(regionId)) return;
    sessionListeners.set(
      regionId,
      listenForAuthChanges({
        regionId,
        connectionString: url,
        cache: sessionCache,
        onError: (error) => log.warn({ err: error, region: regionId }, 'session change listener lost its connection'),
      }),
    );
  };
  listenToRegion('local', config.controlListenUrl ?? controlUrl);
  for (const region of config.regions) listenToRegion(region.id, region.listenUrl ?? region.databaseUrl);
  const refreshRegions = (): string[] => {
    const added: string[] = [];
    for (const region of readRegionConfig([], config.regionsFile)) {
      if (databases.regions.has(region.id)) continue;
      databases.addRegion(region);
      listenToRegion(region.id, region.listenUrl ?? region.databaseUrl);
      added.push(region.id);
    }
    if (added.length > 0) log.info({ regions: added, event: 'regions_added' }, 'regions added from the regions file');
    return added;
  };
  // `sidechart regions add` announces a region; this process opens its pool without a restart.
  const regionListener = options.listen
    ? listenOn({
        connectionString: config.controlListenUrl ?? controlUrl,
        channel: REGIONS_CHANGED_CHANNEL,
        applicationName: `${options.applicationName}-regions`,
        onNotification: () => {
          try {
            refreshRegions();
          } catch (error) {
            log.error({ err: error }, 'the regions file could not be read again; new regions wait for a restart');
          }
        },
        onConnected: () => {},
        onLost: () => {},
        onError: (error) => log.warn({ err: error }, 'region change listener lost its connection'),
      })
    : null;
  const forwarder = config.region === 'all' ? null : createRegionForwarder({ ownRegion: config.region, targets: config.regionForwardUrls, timeoutMs: config.oidc.httpTimeoutMs });
  const clinics = createClinics({ directory, regions: databases.regions, serves });
  const sessionSweeper = createSessionSweeper({ control: databases.control, clinics, log, intervalMs: 60_000, clinicsPerTick: 200, rowsPerClinic: 1_000 });
  const tenants = createTenantService({
    control: databases.control,
    controlPool: databases.controlPool,
    regions: databases.regions,
    defaultRegion: config.defaultRegion,
    ...(options.tenantMigrations ? { tenantMigrations: options.tenantMigrations } : {}),
  });
  const regions = createRegionService({ control: databases.control, controlPool: databases.controlPool, regions: databases.regions, refresh: () => refreshRegions(), fileRegionIds: config.fileRegionIds });

  const resolved = resolveSecrets(config);
  const secrets = { sessionSecret: resolved.sessionSecret, box: createSecretBox(parseKeyring(resolved.encryptionKeys)) };
  const cliniko = createClinikoClient({
    apiBase: config.cliniko.apiBase,
    contactEmail: config.cliniko.contactEmail,
    maxResponseBytes: config.cliniko.maxResponseBytes,
  });
  const patientSync = createPatientSync({ client: cliniko, box: secrets.box, settings: config.patients });
  const ssoTokens = createSsoTokens(secrets.sessionSecret);
  let loginThrottle: LoginThrottle | null = null;
  const platformProviders = createPlatformProviders(config.platformProviders, {
    timeoutMs: config.oidc.httpTimeoutMs,
    allowHttpIssuers: config.oidc.allowHttpIssuers,
    retry: config.oidc.discoveryRetry,
    log,
    ...(options.now ? { now: options.now } : {}),
  });

  const mailer = createMailer(config.mail);

  const close = async (): Promise<void> => {
    platformProviders.stop();
    mailer.close();
    await sessionSweeper.stop();
    await patientSync.idle();
    await cliniko.close();
    await listener?.close();
    await regionListener?.close();
    await Promise.all([...sessionListeners.values()].map((l) => l.close()));
    await forwarder?.close();
    await databases.close();
    await embedded?.stop();
  };
  try {
    if (options.migrate) {
      await migrateControl(databases.control);
      await regions.register();
    }
    if (listener) await listener.ready;
    if (regionListener) await regionListener.ready;
    if (options.listen) sessionSweeper.start();
  } catch (error) {
    await close();
    throw error;
  }
  return {
    config,
    log,
    controlUrl,
    embedded,
    databases,
    directory,
    clinics,
    tenants,
    regions,
    mover: createClinicMover({
      control: databases.control,
      controlPool: databases.controlPool,
      regions: databases.regions,
      tenants,
      provider: options.tenantMigrations ?? tenantMigrations(),
    }),
    serves,
    forwarder,
    refreshRegions,
    secrets,
    sessionCache,
    sessionSweeper,
    cliniko,
    passwords: createPasswordHasher({ memoryKib: config.auth.passwordHashMemoryKib }),
    get loginThrottle() {
      return (loginThrottle ??= createLoginThrottle({
        pool: databases.controlPool,
        maxFailuresPerAccountAndAddress: config.auth.loginMaxFailuresPerAccountAndAddress,
        maxFailuresPerAccount: config.auth.loginMaxFailuresPerAccount,
        maxFailuresPerIp: config.auth.loginMaxFailuresPerIp,
      }));
    },
    ssoTokens,
    handoffs: createHandoffs({ control: databases.control, tokens: ssoTokens }),
    oidcClients: createOidcClients({ ttlMs: config.oidc.discoveryTtlMs, timeoutMs: config.oidc.httpTimeoutMs, allowHttpIssuers: config.oidc.allowHttpIssuers }),
    platformProviders,
    patientSync,
    audit: createAuditWriter(),
    mailer,
    close,
  };
}
