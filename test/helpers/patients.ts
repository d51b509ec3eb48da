// Shared set-up for the patient tests: the Cliniko simulator on a loopback port with the demo
// account, the app listening on another (its CLINIKO_API_BASE pointing at the simulator, as
// configuration would), a clinic connected to the simulator, a staff user, and a browser-like
// client that signs in with a password.
import type { FastifyBaseLogger } from 'fastify';
import { buildTestApp, type TestApp } from './app.ts';
import { createHttpClient, type HttpClient, type HttpResponse } from './http-client.ts';
import { connectCliniko } from '../../src/cliniko/connection.ts';
import type { Clinic } from '../../src/tenancy/clinic.ts';
import { PASSWORD, addUser, csrfTokenIn, openClinic, signInWithPassword } from './fixtures.ts';
import { createClinikoSimulator, seedDemo, type ClinikoSimulator, type DemoAccount, type SimulatorOptions } from '../../src/cliniko/simulator/index.ts';
import { generateKeySpec, type SecretBox } from '../../src/infra/crypto.ts';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export { PASSWORD, csrfTokenIn, signInWithPassword as signIn };
export const EXAMPLE_ID = '836447129235883061';
export const MAX_ID = '9223372036854775807';

export interface PatientTestApp extends TestApp {
  sim: ClinikoSimulator;
  /** Where the simulator listens, e.g. http://127.0.0.1:PORT (its Cliniko screen on that host). */
  simAddress: string;
  demo: DemoAccount;
  box: SecretBox;
  port: string;
  origin: string;
  clinic: Clinic;
  slug: string;
  /** A client already signed in as the clinic's staff user. */
  http: HttpClient;
  user: { id: string; email: string; name: string };
  /** GET /patients?patient_id=<id> with the signed-in client. */
  view(id: string, options?: { crossSite?: boolean }): Promise<HttpResponse>;
  /** A fresh client with its own cookie jar. */
  newClient(): HttpClient;
  /** The clinic's patient row. */
  row(id: string): Promise<Record<string, unknown> | undefined>;
}

export interface PatientTestOptions {
  env?: Record<string, string>;
  simulator?: SimulatorOptions;
  /** Connect the clinic to the simulator's demo account (default true). */
  connect?: boolean;
  loggerInstance?: FastifyBaseLogger;
  slug?: string;
}

export async function startPatientApp(t: Teardown, options: PatientTestOptions = {}): Promise<PatientTestApp> {
  const sim = createClinikoSimulator({ logger: false, ...options.simulator });
  const demo = seedDemo(sim);
  const simAddress = await sim.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => sim.close());
  const keys = generateKeySpec('test1');
  const testApp = await buildTestApp(t, {
    listen: true,
    ...(options.loggerInstance ? { loggerInstance: options.loggerInstance } : {}),
    env: {
      PASSWORD_HASH_MEMORY_KIB: '64',
      SESSION_SECRET: 'patients-test-session-secret-0123456789abcdef',
      SIDECHART_ENCRYPTION_KEYS: keys,
      CLINIKO_API_BASE: `http://api.{shard}.cliniko.localhost:${new URL(simAddress).port}/v1`,
      CLINIKO_CONTACT_EMAIL: 'tests@sidechart.example',
      ...options.env,
    },
  });
  const port = new URL(testApp.address!).port;
  const slug = options.slug ?? 'acme';
  const origin = `http://${slug}.localhost:${port}`;
  sim.settings.buttonUrl = `${origin}/patients`;

  await testApp.runtime.tenants.create({ slug, displayName: 'Acme Physio' });
  const clinic = await openClinic(testApp.runtime, slug);
  const box = testApp.runtime.secrets.box;
  if (options.connect !== false) {
    await connectCliniko(clinic, { apiKey: demo.apiKey, connectedBy: 'test', client: testApp.runtime.cliniko, box, apiBase: testApp.config.cliniko.apiBase });
  }
  const created = await addUser(testApp.runtime, slug, { email: 'sam@acme.example', name: 'Sam Carter', role: 'staff' });
  const newClient = (): HttpClient => {
    const c = createHttpClient();
    t.teardown(() => c.close());
    return c;
  };
  const http = newClient();
  const signedIn = await signInWithPassword(http, origin, created.email);
  if (signedIn.status !== 303) throw new Error(`sign-in failed: ${signedIn.status} ${signedIn.body.slice(0, 300)}`);
  sim.resetCounters(); // the connection's verification calls are not what tests count

  return {
    ...testApp,
    sim,
    simAddress,
    demo,
    box,
    port,
    origin,
    clinic,
    slug,
    http,
    user: { id: created.id, email: created.email, name: created.name },
    view: (id, viewOptions = {}) => http.get(`${origin}/patients?patient_id=${id}`, { crossSite: viewOptions.crossSite ?? true, headers: { 'sec-fetch-site': 'cross-site' } }),
    newClient,
    row: async (id) => clinic.db.selectFrom('patients').selectAll().where('cliniko_id', '=', id).executeTakeFirst(),
  };
}

/** Upstream calls the simulator received for one patient (by ID, or the archived-inclusive list). */
export function upstreamCalls(sim: ClinikoSimulator, id: string): number {
  return sim.requests().filter((r) => r.path === `/v1/patients/${id}` || (r.path === '/v1/patients' && decodeURIComponent(r.query).includes(`id:=${id}`))).length;
}

/** The visible text of a page, tags stripped (entities kept), for assertions on what a person reads. */
export function textOf(html: string): string {
  return html.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ');
}
