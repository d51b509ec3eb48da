// One way to get a running Sidechart for a test: its own database, a migrated control plane, the
// tenant directory listening for changes, the app built from the same code as server.ts. Closed on
// teardown. `listen: true` also binds a real socket on 127.0.0.1.
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Test } from 'tap';
import type { MigrationProvider } from 'kysely/migration';
import { randomBytes } from 'node:crypto';
import { buildApp } from '../../src/app.ts';
import { generateKeySpec } from '../../src/infra/crypto.ts';
import { ConfigError, loadConfig, type Config } from '../../src/config.ts';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import { runCli } from '../../src/cli/main.ts';
import { createTestDatabase } from './db.ts';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface TestApp {
  app: FastifyInstance;
  runtime: Runtime;
  config: Config;
  env: Record<string, string>;
  /** Base URL when listening, e.g. http://127.0.0.1:PORT */
  address: string | null;
}

const silentLog = { info: () => {}, warn: () => {}, error: () => {} };

/**
 * Asserts that loadConfig refuses `env` with a ConfigError naming `variable`, in one line, and
 * (when given) a message matching `message`.
 */
export function assertConfigRefuses(t: Test, env: Record<string, string>, variable: string, message?: RegExp): void {
  try {
    loadConfig(env);
    t.fail(`accepted ${JSON.stringify(env)}`);
  } catch (error) {
    t.ok(error instanceof ConfigError, JSON.stringify(env));
    t.equal((error as ConfigError).variable, variable);
    if (message) t.match((error as Error).message, message);
    t.notOk(String((error as Error).message).includes('\n'), 'one line');
  }
}

/** The least configuration production accepts (config tests; nothing connects to it). */
export const PRODUCTION_ENV: Record<string, string> = {
  SIDECHART_ENV: 'production',
  DATABASE_URL: 'postgres://app@db:5432/sidechart',
  SESSION_SECRET: 'x'.repeat(40),
  SIDECHART_ENCRYPTION_KEYS: 'k1:' + Buffer.alloc(32, 1).toString('base64'),
  CLINIKO_CONTACT_EMAIL: 'ops@sidechart.app',
  REGION: 'local',
};

export async function testEnv(t: Teardown, env: Record<string, string> = {}): Promise<Record<string, string>> {
  const databaseUrl = env.DATABASE_URL ?? (await createTestDatabase(t));
  return {
    // Explicit secrets: tests never read or write the developer's .data/dev-secrets.json.
    SESSION_SECRET: randomBytes(32).toString('base64url'),
    SIDECHART_ENCRYPTION_KEYS: generateKeySpec('test1'),
    SIDECHART_ENV: 'development', BASE_DOMAIN: 'localhost', LOG_LEVEL: 'silent', SIDECHART_DEMO: 'false', CLINIKO_SIMULATOR: 'false', DB_POOL_MAX: '5',
    // Tests make many requests from 127.0.0.1; the per-address limits have tests of their own.
    RATE_LIMIT_SIGN_IN_PER_MINUTE: '1000000', RATE_LIMIT_ANONYMOUS_PATIENT_PER_MINUTE: '1000000',
    ...env, DATABASE_URL: databaseUrl };
}

export async function buildTestApp(
  t: Teardown,
  options: {
    env?: Record<string, string>;
    listen?: boolean;
    tenantMigrations?: MigrationProvider;
    extend?: (app: FastifyInstance, runtime: Runtime) => void | Promise<void>;
    /** Capture the app's logs (a pino instance); silent otherwise. */
    loggerInstance?: FastifyBaseLogger;
    /** The clock the runtime's retry backoffs are measured on (tests move it instead of waiting). */
    now?: () => number;
  } = {},
): Promise<TestApp> {
  const env = await testEnv(t, options.env);
  const config = loadConfig(env);
  const runtime = await createRuntime({
    config,
    log: silentLog,
    applicationName: 'sidechart-test',
    listen: true,
    migrate: true,
    ...(options.tenantMigrations ? { tenantMigrations: options.tenantMigrations } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  t.teardown(() => runtime.close());
  const app = await buildApp({ runtime, ...(options.loggerInstance ? { loggerInstance: options.loggerInstance } : { logger: false }) });
  await options.extend?.(app, runtime);
  t.teardown(() => app.close());
  let address: string | null = null;
  // A test that needs links to name the real port (PUBLIC_PORT) picks one and passes it as PORT.
  if (options.listen) address = await app.listen({ port: env.PORT ? Number(env.PORT) : 0, host: '127.0.0.1' });
  else await app.ready();
  return { app, runtime, config, env, address };
}

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI in-process against a test environment. */
export async function cli(env: Record<string, string>, args: string[], options: { stdin?: string; tenantMigrations?: MigrationProvider } = {}): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(
    args,
    { out: (s) => out.push(s), err: (s) => err.push(s), interactive: false, readStdin: async () => options.stdin ?? '' },
    { env, ...(options.tenantMigrations ? { tenantMigrations: options.tenantMigrations } : {}) },
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}
