// The composition root: everything a Sidechart process shares, built once, above the domains.
// server.ts, the CLI, the benchmark and the tests all build it here, so they cannot drift: the
// databases (one pool per region, the control plane), the tenant directory and its change
// listener, the one way to open a clinic, the tenant lifecycle service, the secrets (resolved
// once), the Cliniko client, password hashing and throttling, the single sign-on tokens and
// hand-offs, patient sync and the audit writer. Domains receive the parts they need as explicit
// dependencies (buildApp hands them out); nobody receives the whole runtime.
import type { MigrationProvider } from 'kysely/migration';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import { openDatabases, type Databases } from './infra/db.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './infra/embedded-postgres.ts';
import { createSecretBox, parseKeyring, type SecretBox } from './infra/crypto.ts';
import { resolveSecrets } from './infra/secrets.ts';
import { createMailer, type Mailer } from './infra/mail.ts';
import { createClinics, type Clinics } from './tenancy/clinic.ts';
import { createTenantDirectory, listenForTenantChanges, type TenantDirectory } from './tenancy/directory.ts';
import { migrateControl } from './tenancy/migrations.ts';
import { createRegionService, type RegionService } from './tenancy/regions.ts';
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
  secrets: { sessionSecret: string; box: SecretBox };
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
  // Each region's sessions live in its own database, so each region's changes are heard there.
  const sessionCache = createSessionCache(config.sessionCache);
  const sessionListeners = options.listen
    ? [...databases.regions.values()].map((region) =>
        listenForAuthChanges({
          regionId: region.id,
          connectionString: region.id === 'local' ? (config.controlListenUrl ?? controlUrl) : regionUrl(config, region.id),
          cache: sessionCache,
          onError: (error) => log.warn({ err: error, region: region.id }, 'session change listener lost its connection'),
        }),
      )
    : [];
  const clinics = createClinics({ directory, regions: databases.regions });
  const sessionSweeper = createSessionSweeper({ control: databases.control, clinics, log, intervalMs: 60_000, clinicsPerTick: 200, rowsPerClinic: 1_000 });
  const tenants = createTenantService({
    control: databases.control,
    controlPool: databases.controlPool,
    regions: databases.regions,
    defaultRegion: config.defaultRegion,
    ...(options.tenantMigrations ? { tenantMigrations: options.tenantMigrations } : {}),
  });
  const regions = createRegionService({ control: databases.control, regions: databases.regions });

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
    await Promise.all(sessionListeners.map((l) => l.close()));
    await databases.close();
    await embedded?.stop();
  };
  try {
    if (options.migrate) {
      await migrateControl(databases.control);
      await regions.register();
    }
    if (listener) await listener.ready;
    await Promise.all(sessionListeners.map((l) => l.ready));
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

function regionUrl(config: Config, regionId: string): string {
  const region = config.regions.find((r) => r.id === regionId);
  if (!region) throw new Error(`region ${regionId} has a pool but no configuration`);
  return region.databaseUrl;
}
