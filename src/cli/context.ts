// What every CLI command gets: where to print, the configuration, and a runtime opened on demand
// (and closed by main.ts when the command ends).
import type { MigrationProvider } from 'kysely/migration';
import type { Config } from '../config.ts';
import { httpErrors } from '../infra/errors.ts';
import { createRuntime, type Runtime } from '../runtime.ts';
import type { Clinic } from '../tenancy/clinic.ts';

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
}

/**
 * A clinic opened for an operator (tenancy/clinic.ts): anything not deleted, or only an active one
 * when `needsActive` says why that is needed.
 */
export async function clinicScope(context: CliContext, slug: string, needsActive?: string): Promise<Clinic> {
  const runtime = await context.runtime();
  return runtime.clinics.open(slug, { for: 'operator', ...(needsActive === undefined ? {} : { needsActive }) });
}

/**
 * The clinics a command run over "one clinic or --all" names: that one, or every active or
 * suspended clinic (the ones whose schema is complete). Neither or both is a usage error.
 */
export async function clinicsNamed(context: CliContext, slug: string | undefined, all: boolean | undefined): Promise<string[]> {
  if ((slug === undefined) === (all !== true)) throw httpErrors.usage('name one clinic, or pass --all');
  if (all !== true) return [slug!];
  const tenants = await (await context.runtime()).tenants.list();
  return tenants.filter((t) => t.status === 'active' || t.status === 'suspended').map((t) => t.slug);
}

export function createCliContext(io: CliIo, config: Config, tenantMigrations?: MigrationProvider) {
  let runtime: Promise<Runtime> | null = null;
  const quietLog = { info: () => {}, warn: (obj: unknown, msg?: string) => io.err(`warning: ${msg ?? String(obj)}`), error: () => {} };
  const context: CliContext & { close(): Promise<void> } = {
    io,
    config,
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
