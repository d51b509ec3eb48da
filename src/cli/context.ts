// What every CLI command gets: where to print, the configuration, and a runtime opened on demand
// (and closed by main.ts when the command ends).
import type { MigrationProvider } from 'kysely/migration';
import type { Config } from '../config.ts';
import { createRuntime, type Runtime } from '../infra/runtime.ts';

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
