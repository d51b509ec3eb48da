// The `directory` scenario of `npm run bench`: does the patient view slow down as clinics
// accumulate? The signed-in patient view (the whole app: host, directory, session, patient, audit)
// with 10 clinics in the directory and requests spread over all 10, then with `total` clinics in
// the directory and requests spread over 1,000 of them (a held patient and a signed-in user in
// each). Same app process, same load generator (autocannon in its own process).
import { request } from 'undici';
import { buildApp } from '../src/app.ts';
import { createUser } from '../src/auth/users.ts';
import { loadConfig } from '../src/config.ts';
import { createRuntime, type Runtime } from '../src/runtime.ts';
import { savePatient } from '../src/patients/sync.ts';
import { load as runLoad, type LoadRequest, type LoadResult } from './load.ts';
import { withDatabase, type ScaleOptions } from './scale.ts';

const PATIENT_ID = '836447129235883061';
const PASSWORD = 'bench-password-123';


export interface DirectoryResult {
  small: { clinics: number; spreadOver: number } & LoadResult;
  large: { clinics: number; spreadOver: number } & LoadResult;
  ratio: number;
}

function load(url: string, requests: LoadRequest[], seconds: number): Promise<LoadResult> {
  return runLoad({ url, connections: 16, duration: seconds, requests });
}

/** A staff user and a held patient in the clinic, and a signed-in session cookie for it. */
async function prepareClinic(runtime: Runtime, origin: string, port: string, slug: string): Promise<{ path: string; headers: Record<string, string> }> {
  const clinic = await runtime.clinics.open(slug, { for: 'operator' });
  await createUser(clinic.db, { email: `staff@${slug}.example`, name: 'Bench Staff', role: 'staff', passwordHash: await runtime.passwords.hash(PASSWORD) });
  await savePatient(clinic, { id: PATIENT_ID, first_name: 'Bench', last_name: slug }, new Date());
  const host = `${slug}.localhost:${port}`;
  const page = await request(`${origin}/login`, { headers: { host } });
  const html = await page.body.text();
  const pre = String(page.headers['set-cookie'] ?? '').split(';')[0]!;
  const csrf = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
  if (!csrf) throw new Error(`no sign-in form at ${slug}`);
  const signedIn = await request(`${origin}/login`, {
    method: 'POST',
    headers: { host, cookie: pre, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ email: `staff@${slug}.example`, password: PASSWORD, _csrf: csrf }).toString(),
  });
  await signedIn.body.dump();
  const cookie = String(signedIn.headers['set-cookie'] ?? '').split(';')[0]!;
  if (signedIn.statusCode !== 303 || !cookie) throw new Error(`sign-in failed at ${slug} (${signedIn.statusCode})`);
  const view = await request(`${origin}/patients?patient_id=${PATIENT_ID}`, { headers: { host, cookie } });
  await view.body.dump();
  if (view.statusCode !== 200) throw new Error(`the patient view answered ${view.statusCode} at ${slug}`);
  return { path: `/patients?patient_id=${PATIENT_ID}`, headers: { host, cookie } };
}

export async function directoryScale(options: ScaleOptions & { total: number; seconds: number }): Promise<DirectoryResult> {
  return withDatabase(options.serverUrl, (url) => measure(url, options));
}

async function measure(url: string, options: ScaleOptions & { total: number; seconds: number }): Promise<DirectoryResult> {
  const config = loadConfig({
    DATABASE_URL: url,
    LOG_LEVEL: 'silent',
    SIDECHART_DEMO: 'false',
    CLINIKO_SIMULATOR: 'false',
    PASSWORD_HASH_MEMORY_KIB: '64',
    // A thousand sign-ins from one address while preparing: the per-address limit is not under test.
    RATE_LIMIT_SIGN_IN_PER_MINUTE: '1000000',
    PATIENT_FRESH_SECONDS: '86400',
    METRICS_PORT: '0',
    SESSION_SECRET: 'd'.repeat(40),
    SIDECHART_ENCRYPTION_KEYS: `bench:${Buffer.alloc(32, 9).toString('base64')}`,
  });
  const runtime = await createRuntime({ config, log: { info() {}, warn() {}, error() {} }, applicationName: 'sidechart-bench', listen: true, migrate: true });
  const app = await buildApp({ runtime, logger: false });
  try {
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const port = new URL(address).port;
    const createRange = async (from: number, to: number) => {
      let next = from;
      await Promise.all(Array.from({ length: 4 }, async () => {
        while (next < to) await runtime.tenants.create({ slug: `dir-${next++}` });
      }));
    };

    await createRange(0, 10);
    const smallRequests = [];
    for (let i = 0; i < 10; i++) smallRequests.push({ method: 'GET' as const, ...(await prepareClinic(runtime, address, port, `dir-${i}`)) });
    await load(address, smallRequests, 2); // warm-up
    const small = { clinics: 10, spreadOver: 10, ...(await load(address, smallRequests, options.seconds)) };
    options.log(`  directory: 10 clinics, spread over 10: ${small.requestsPerSecond.toFixed(0)} req/s, p99 ${small.p99} ms, non-2xx ${small.non2xx + small.errors}`);

    const started = performance.now();
    await createRange(10, options.total);
    options.log(`  directory: created ${options.total - 10} more clinics in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    const spread = Math.min(1_000, options.total);
    const largeRequests = [...smallRequests];
    for (let i = 10; i < spread; i++) largeRequests.push({ method: 'GET' as const, ...(await prepareClinic(runtime, address, port, `dir-${i}`)) });
    // Spread the first requests of every connection across clinics rather than in creation order.
    largeRequests.sort(() => Math.random() - 0.5);
    await load(address, largeRequests, 2);
    const large = { clinics: options.total, spreadOver: spread, ...(await load(address, largeRequests, options.seconds)) };
    const ratio = large.requestsPerSecond / small.requestsPerSecond;
    options.log(`  directory: ${options.total} clinics, spread over ${spread}: ${large.requestsPerSecond.toFixed(0)} req/s, p99 ${large.p99} ms, non-2xx ${large.non2xx + large.errors}`);
    options.log(`  directory: ${ratio.toFixed(2)}x the 10-clinic throughput (target: within 10 %, i.e. >= 0.90x)`);
    return { small, large, ratio };
  } finally {
    await app.close();
    await runtime.close();
  }
}
