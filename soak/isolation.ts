// The isolation soak: many signed-in browsers of many look-alike clinics (clinics.ts) opening
// patient pages at once through a real listening server. Every page must show the clinic's own
// patient for the ID asked and nothing of any other clinic; a share of the requests carries a
// clinic's session cookie to another clinic's host, where it must be worth nothing (the sign-in
// redirect). The caller compares the pages served with each clinic's audit trail (auditedViews).
import { errors as undiciErrors, Pool } from 'undici';
import { foreignClinics, PATIENT_IDS, type SignedInClinic } from './clinics.ts';
import { randomForCase } from './random.ts';

export interface IsolationOptions {
  /** The listening app, e.g. http://127.0.0.1:PORT; clinics are reached through the Host header. */
  address: string;
  clinics: readonly SignedInClinic[];
  requests: number;
  /** Keep sending past `requests` until this long has passed (`npm run soak -- --duration`). */
  durationMs?: number;
  /** Requests in flight at once (one keep-alive connection each). */
  connections: number;
  seed: number;
  /** Request N of a run is derived from (seed, firstIndex + N): rounds of one run differ. */
  firstIndex?: number;
  /** No answer within this is a hang (counted as `timeout`). */
  timeoutMs: number;
  /** Share of requests sent with one clinic's cookie to another clinic's host (default 0.05). */
  crossHostShare?: number;
  /** The page asked for (default the patient page); tests point it at a deliberately broken route. */
  path?: (patientId: string) => string;
}

export interface IsolationReport {
  requests: number;
  /** Patient pages served (200) with the clinic's own patient. */
  served: number;
  /** Failed requests by kind: `5xx`, `timeout`, `network`, `status <code>`, `wrong patient`. */
  errors: Record<string, number>;
  /** Responses that named another clinic's data. */
  foreignRows: number;
  /** Pages served (200) per clinic: the audit events each clinic's trail must have gained. */
  servedBy: Map<string, number>;
  durationMs: number;
  /** The first few problems, one line each. */
  samples: string[];
}

const SAMPLES = 10;

export async function runIsolationSoak(options: IsolationOptions): Promise<IsolationReport> {
  const { clinics, seed, timeoutMs } = options;
  if (clinics.length < 2) throw new Error('the isolation soak needs at least two clinics');
  const port = new URL(options.address).port;
  const known = new Set(clinics.map((c) => c.slug));
  const pathFor = options.path ?? ((id: string) => `/patients?patient_id=${id}`);
  const crossHostShare = options.crossHostShare ?? 0.05;
  const first = options.firstIndex ?? 0;
  const pool = new Pool(options.address, { connections: options.connections, pipelining: 1, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const report: IsolationReport = { requests: 0, served: 0, errors: {}, foreignRows: 0, servedBy: new Map(), durationMs: 0, samples: [] };
  const fail = (kind: string, detail: string) => {
    report.errors[kind] = (report.errors[kind] ?? 0) + 1;
    if (report.samples.length < SAMPLES) report.samples.push(`${kind}: ${detail}`);
  };

  async function one(index: number): Promise<void> {
    const random = randomForCase(seed, first + index);
    const clinic = random.pick(clinics);
    const patientId = random.pick(PATIENT_IDS);
    const cross = random.chance(crossHostShare);
    const host = cross ? random.pick(clinics.filter((c) => c !== clinic)) : clinic;
    const what = `${cross ? `${clinic.slug}'s session at ${host.slug}` : clinic.slug} patient ${patientId} (request ${first + index}, seed ${seed})`;
    let status: number;
    let body: string;
    let location: string | undefined;
    try {
      const response = await pool.request({
        method: 'GET',
        path: pathFor(patientId),
        // As Cliniko's button opens it: a cross-site top-level GET with the clinic's cookies.
        headers: { host: `${host.slug}.localhost:${port}`, cookie: clinic.cookie, 'sec-fetch-site': 'cross-site', accept: 'text/html' },
      });
      status = response.statusCode;
      body = await response.body.text();
      const raw = response.headers.location;
      location = Array.isArray(raw) ? raw[0] : raw;
    } catch (error) {
      const timedOut = error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError;
      fail(timedOut ? 'timeout' : 'network', `${what}: ${(error as Error).message}`);
      return;
    } finally {
      report.requests++;
    }
    const foreign = foreignClinics(body, [host.slug], known);
    if (foreign.length > 0) {
      report.foreignRows++;
      if (report.samples.length < SAMPLES) report.samples.push(`foreign rows: ${what} showed ${foreign.join(', ')}`);
    }
    if (status >= 500) return fail('5xx', `${what}: ${status} ${body.slice(0, 120)}`);
    if (cross) {
      // Another clinic's cookie is dropped before any session loads: a visitor, sent to sign in.
      if (status !== 303 || location !== '/login') fail(`status ${status}`, `${what}: expected 303 to /login, got ${status} ${location ?? ''}`);
      return;
    }
    if (status !== 200) return fail(`status ${status}`, `${what}: ${body.slice(0, 120)}`);
    const expected = clinic.patients.get(patientId);
    if (options.path === undefined && (expected === undefined || !body.includes(expected))) return fail('wrong patient', `${what}: the page does not name ${expected}`);
    report.served++;
    report.servedBy.set(clinic.slug, (report.servedBy.get(clinic.slug) ?? 0) + 1);
  }

  const started = performance.now();
  const until = started + (options.durationMs ?? 0);
  const more = () => next < options.requests || performance.now() < until;
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: options.connections }, async () => {
        while (more()) await one(next++);
      }),
    );
  } finally {
    await pool.close();
  }
  report.durationMs = performance.now() - started;
  return report;
}

/** Audit events missing for pages served: per clinic, served minus events gained (never negative). */
export function lostAuditEvents(servedBy: ReadonlyMap<string, number>, before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): number {
  let lost = 0;
  for (const [slug, served] of servedBy) lost += Math.max(0, served - ((after.get(slug) ?? 0) - (before.get(slug) ?? 0)));
  return lost;
}
