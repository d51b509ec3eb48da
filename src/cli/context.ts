// What every CLI command gets: where to print, the configuration, and a runtime opened on demand
// (and closed by main.ts when the command ends).
import type { MigrationProvider } from 'kysely/migration';
import type { Config } from '../config.ts';
import { AppError } from '../infra/errors.ts';
import { createRuntime, type Runtime } from '../runtime.ts';
import { scopeToTenant } from '../tenancy/clinic.ts';
import type { TenantDb } from '../tenancy/tenant-database.ts';
import type { TenantSummary } from '../tenancy/tenants.ts';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Whether stderr is a terminal (progress bars only then). */
  interactive: boolean;
  /** Reads all of standard input (for --password-stdin / --key-stdin). */
  readStdin: () => Promise<string>;
}

export interface CliContext {
  io: CliIo;
  config: Config;
  runtime(): Promise<Runtime>;
  tenantMigrations?: MigrationProvider;
}

/**
 * A clinic and the handle scoped to its schema, for commands that work inside one clinic.
 * `active`: only an active clinic (e.g. managing users); `present`: anything not deleted.
 */
export async function clinicScope(
  context: CliContext,
  slug: string,
  needs: 'active' | 'present' = 'present',
  why = 'this needs an active clinic',
): Promise<{ tenant: TenantSummary; db: TenantDb; schemaName: string }> {
  const runtime = await context.runtime();
  const tenant = await runtime.tenants.find(slug);
  if (tenant.status === 'deleted') throw new AppError(404, 'no_clinic', `clinic "${tenant.slug}" is deleted`);
  if (needs === 'active' && tenant.status !== 'active') {
    throw new AppError(409, 'tenant_not_active', `clinic "${tenant.slug}" is ${tenant.status}; ${why}`);
  }
  const region = runtime.databases.regions.get(tenant.regionId);
  if (!region) {
    throw new AppError(503, 'region_unavailable', `clinic "${tenant.slug}" is in region "${tenant.regionId}", which this configuration has no database for`);
  }
  return { tenant, db: scopeToTenant(region, tenant.schemaName), schemaName: tenant.schemaName };
}

export function createCliContext(io: CliIo, config: Config, tenantMigrations?: MigrationProvider) {
  let runtime: Promise<Runtime> | null = null;
  const quietLog = { info: () => {}, warn: (obj: unknown, msg?: string) => io.err(`warning: ${msg ?? String(obj)}`), error: () => {} };
  const context: CliContext & { close(): Promise<void> } = {
    io,
    config,
    ...(tenantMigrations ? { tenantMigrations } : {}),
    runtime() {
      runtime ??= createRuntime({
        config,
        log: quietLog,
        applicationName: 'sidechart-cli',
        migrate: true,
        ...(tenantMigrations ? { tenantMigrations } : {}),
      });
      return runtime;
    },
    async close() {
      if (runtime) await (await runtime.catch(() => null))?.close();
    },
  };
  return context;
}

/** Prints either JSON (for scripts) or the human lines. */
export function report(io: CliIo, json: boolean | undefined, value: unknown, human: () => string): void {
  io.out(json ? JSON.stringify(value, null, 2) : human());
}
