// Everything a process needs to talk to the databases: pools per region, the control plane, the
// cached tenant directory and its change listener, and the tenant lifecycle service. server.ts, the
// CLI and tests all build it here, so they cannot drift.
import type { MigrationProvider } from 'kysely/migration';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import { openDatabases, type Databases } from './infra/db.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './infra/embedded-postgres.ts';
import { createTenantDirectory, listenForTenantChanges, type TenantDirectory } from './tenancy/directory.ts';
import { migrateControl } from './tenancy/migrations.ts';
import { registerRegions } from './tenancy/regions.ts';
import { createTenantService, type TenantService } from './tenancy/tenants.ts';

export interface Runtime {
  config: Config;
  databases: Databases;
  directory: TenantDirectory;
  tenants: TenantService;
  /** URL of the control database actually in use (the embedded one when DATABASE_URL is unset). */
  controlUrl: string;
  embedded: EmbeddedDatabase | null;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  config: Config;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  applicationName: string;
  /** Listen for tenant changes made by other processes (servers do; one-shot CLI commands need not). */
  listen?: boolean;
  /** Migrate the control plane and register regions before returning. */
  migrate?: boolean;
  tenantMigrations?: MigrationProvider;
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
  const directory = createTenantDirectory({ control: databases.control, ttlMs: config.tenantCacheTtlMs });
  const listener = options.listen
    ? listenForTenantChanges({
        // LISTEN needs a session of its own: through PgBouncer in transaction mode it would not stick.
        connectionString: config.controlListenUrl ?? controlUrl,
        directory,
        onError: (error) => log.warn({ err: error }, 'tenant change listener lost its connection'),
      })
    : null;
  const tenants = createTenantService({
    control: databases.control,
    controlPool: databases.controlPool,
    regions: databases.regions,
    defaultRegion: config.defaultRegion,
    ...(options.tenantMigrations ? { tenantMigrations: options.tenantMigrations } : {}),
  });

  const close = async (): Promise<void> => {
    await listener?.close();
    await databases.close();
    await embedded?.stop();
  };
  try {
    if (options.migrate) {
      await migrateControl(databases.control);
      await registerRegions(databases.control, databases.regions);
    }
    if (listener) await listener.ready;
  } catch (error) {
    await close();
    throw error;
  }
  return { config, databases, directory, tenants, controlUrl, embedded, close };
}
