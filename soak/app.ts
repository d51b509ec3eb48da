// The app the soak and the fuzz run against, built the way the tests build it (test/helpers/app.ts:
// its own database, listening on loopback), with the look-alike clinics seeded and signed in; and a
// second instance of it on the same database through a real PgBouncer in transaction mode.
// `t` is tap's test in the tests, and a list of clean-ups in `npm run soak` (soak/index.ts).
import type { FastifyInstance } from 'fastify';
import { sessionCookieSettings } from '../src/auth/session/plugin.ts';
import type { Runtime } from '../src/runtime.ts';
import { buildTestApp, type TestApp } from '../test/helpers/app.ts';
import { testServerUrl } from '../test/helpers/db.ts';
import { TEST_AUTH_ENV } from '../test/helpers/fixtures.ts';
import { startPgBouncer } from '../test/helpers/pgbouncer.ts';
import { seedLookalikeClinics, signInClinics, type SignedInClinic } from './clinics.ts';
import type { FuzzTarget } from './fuzz-cases.ts';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export const BASE_DOMAIN = 'localhost';

export interface SoakApp extends TestApp {
  address: string;
  port: number;
  clinics: SignedInClinic[];
  fuzzTarget: FuzzTarget;
}

export interface SoakAppOptions {
  clinics: number;
  prefix: string;
  env?: Record<string, string>;
  extend?: (app: FastifyInstance, runtime: Runtime) => void | Promise<void>;
}

export async function startSoakApp(t: Teardown, options: SoakAppOptions): Promise<SoakApp> {
  const testApp = await buildTestApp(t, {
    listen: true,
    // Seeded records stay fresh for the whole run: pages come from the clinic's own table.
    env: { ...TEST_AUTH_ENV, BASE_DOMAIN, PATIENT_FRESH_SECONDS: '86400', ...options.env },
    ...(options.extend ? { extend: options.extend } : {}),
  });
  const address = testApp.address!;
  const port = Number(new URL(address).port);
  const seeded = await seedLookalikeClinics(testApp.runtime, { count: options.clinics, prefix: options.prefix });
  const clinics = await signInClinics(seeded, (slug) => `http://${slug}.${BASE_DOMAIN}:${port}`);
  return {
    ...testApp,
    address,
    port,
    clinics,
    fuzzTarget: { port, baseDomain: BASE_DOMAIN, sessionCookieName: sessionCookieSettings(testApp.config).name, clinics },
  };
}

/**
 * Another instance on the soak app's database, through PgBouncer in transaction mode (as
 * test/tenancy/pgbouncer.test.ts runs it): same secrets, so the signed-in cookies are good here.
 */
export async function startBouncedApp(t: Teardown, direct: SoakApp, options: { poolSize: number }): Promise<SoakApp> {
  const databaseUrl = direct.env.DATABASE_URL!;
  const bouncer = await startPgBouncer(t, testServerUrl(), { poolSize: options.poolSize });
  const testApp = await buildTestApp(t, {
    listen: true,
    env: { ...direct.env, DATABASE_URL: bouncer.through(databaseUrl), CONTROL_LISTEN_URL: databaseUrl, DB_POOL_MAX: '10', DB_PREPARED_STATEMENTS: 'false' },
  });
  const address = testApp.address!;
  const port = Number(new URL(address).port);
  return { ...testApp, address, port, clinics: direct.clinics, fuzzTarget: { ...direct.fuzzTarget, port } };
}
