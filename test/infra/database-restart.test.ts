// PostgreSQL restarted in the middle of load (issue 10, item 5; database-faults.test.ts kills
// backends, this stops the whole server): a real PostgreSQL (embedded, on a free port, data under
// the OS temp dir) behind a signed-in patient app, a steady concurrent load of patient views, a fast
// shutdown mid-load, then a start on the same data. During the outage every view is a clear 503
// (Retry-After, words a person understands, nothing internal) and none hangs (each request has an
// abort far beyond the pool's connection deadline); /readyz is red, the ops listener says since
// when; after the start /readyz is green and views are served again by the same app, no restart;
// every page served has its audit event. Phases are driven by events (answers counted), not sleeps.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import pg from 'pg';
import t from 'tap';
import { request } from 'undici';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/infra/embedded-postgres.ts';
import { regionStatusRoutes } from '../../src/infra/health.ts';
import { freePort } from '../helpers/net.ts';
import { EXAMPLE_ID, startPatientApp } from '../helpers/patients.ts';

/** The pool gives up on a connection after this long (DB_CONNECTION_TIMEOUT_MS)... */
const CONNECTION_TIMEOUT_MS = 1_000;
/** ...so a view still unanswered after this long is hanging, not slow. */
const HANG_MS = 20 * CONNECTION_TIMEOUT_MS;
const WORKERS = 6;

type Phase = 'up' | 'stopping' | 'down' | 'starting' | 'restarted';
interface Answer {
  /** When the view was asked for, and when it was answered. */
  phase: Phase;
  answeredIn: Phase;
  status: number | 'hung';
  retryAfter: string | undefined;
  body: string;
  ms: number;
}

t.test('PostgreSQL restarted mid-load: clear 503s meanwhile, served again without restarting the app', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'sidechart-restart-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true })); // teardowns run last-registered first: this one last
  const pgPort = await freePort();
  const startPostgres = () => startEmbeddedPostgres({ dataDir, port: pgPort, database: 'sidechart' });
  let server: EmbeddedDatabase = await startPostgres();
  t.teardown(() => server.stop());

  const app = await startPatientApp(t, { env: { DATABASE_URL: server.url, DB_POOL_MAX: '5', DB_CONNECTION_TIMEOUT_MS: String(CONNECTION_TIMEOUT_MS) } });
  const ops = Fastify({ logger: false });
  await ops.register(regionStatusRoutes, { databases: app.runtime.databases });
  t.teardown(() => ops.close());
  const regionStatus = async () => (await ops.inject({ url: '/readyz/regions' })).json() as { status: string; regions: { region: string; ok: boolean; downSince: string | null }[] };
  const readyz = () => app.app.inject({ url: '/readyz', headers: { host: '127.0.0.1' } });
  const shownViews = async (): Promise<number> => {
    // A client per count: the server it talks to is stopped in between.
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    try {
      return Number((await client.query(`select count(*) as n from "${app.clinic.schemaName}".audit_events where action = 'view' and outcome = 'shown'`)).rows[0].n);
    } finally {
      await client.end();
    }
  };

  // The signed-in browser's view of one patient, with a deadline of its own to tell a hang.
  const url = `http://127.0.0.1:${app.port}/patients?patient_id=${EXAMPLE_ID}`;
  const headers = { host: `${app.slug}.localhost:${app.port}`, cookie: app.http.cookieHeader(`${app.origin}/patients`), 'sec-fetch-site': 'cross-site' };
  let phase: Phase = 'up';
  const answers: Answer[] = [];
  const waiting: { done: () => boolean; resolve: () => void }[] = [];
  const count = (match: (a: Answer) => boolean) => answers.filter(match).length;
  /** Resolves once the answers so far satisfy `done` (checked as each answer arrives). */
  const until = (done: () => boolean) => new Promise<void>((resolve) => (done() ? resolve() : waiting.push({ done, resolve })));
  async function view(): Promise<void> {
    const started = phase;
    const at = performance.now();
    let answer: Answer;
    try {
      const res = await request(url, { headers, signal: AbortSignal.timeout(HANG_MS) });
      const retryAfter = res.headers['retry-after'];
      const body = await res.body.text();
      answer = { phase: started, answeredIn: phase, status: res.statusCode, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, body, ms: performance.now() - at };
    } catch {
      answer = { phase: started, answeredIn: phase, status: 'hung', retryAfter: undefined, body: '', ms: performance.now() - at };
    }
    answers.push(answer);
    for (const w of [...waiting]) {
      if (w.done()) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve();
      }
    }
  }

  t.equal((await readyz()).statusCode, 200, 'ready before');
  t.equal((await request(url, { headers })).statusCode, 200, 'the patient is held');
  const before = await shownViews();

  let loading = true;
  const load = Promise.all(Array.from({ length: WORKERS }, async () => {
    while (loading) await view();
  }));

  await until(() => count((a) => a.status === 200) >= 3 * WORKERS);
  phase = 'stopping';
  await server.stop(); // SIGINT: PostgreSQL's fast shutdown, while views are in flight
  phase = 'down';
  const whileDown = (a: Answer) => a.phase === 'down' && a.answeredIn === 'down';
  await until(() => count(whileDown) >= 5 * WORKERS);

  const red = await readyz();
  t.equal(red.statusCode, 503, '/readyz is red while PostgreSQL is down');
  t.same(red.json(), { status: 'unavailable' }, 'a status, no region names');
  const down = await regionStatus();
  t.match(down, { status: 'unavailable', regions: [{ region: 'local', ok: false, downSince: /^\d{4}-/ }] }, 'the ops listener says which region is down and since when');

  phase = 'starting';
  server = await startPostgres(); // the same data directory and port
  phase = 'restarted';
  t.equal((await readyz()).statusCode, 200, '/readyz is green again once PostgreSQL is up');
  t.same(await regionStatus(), { status: 'ready', regions: [{ region: 'local', ok: true, downSince: null }] });
  await until(() => count((a) => a.phase === 'restarted' && a.status === 200) >= 3 * WORKERS);
  loading = false;
  await load;

  const tally = (p: Phase) => JSON.stringify(Object.fromEntries(['200', '503', 'hung'].map((s) => [s, count((a) => a.phase === p && String(a.status) === s)])));
  const slowest = (p: Phase) => Math.round(Math.max(0, ...answers.filter((a) => a.phase === p).map((a) => a.ms)));
  for (const p of ['up', 'stopping', 'down', 'starting', 'restarted'] as const) t.comment(`${p}: ${tally(p)}, slowest ${slowest(p)} ms`);

  t.equal(count((a) => a.status === 'hung'), 0, `no view hung (each aborted after ${HANG_MS} ms)`);
  t.equal(count((a) => a.status !== 200 && a.status !== 503), 0, 'every answer is a page or a 503');
  t.equal(count((a) => whileDown(a) && a.status !== 503), 0, 'every view asked and answered while PostgreSQL was down is a 503');
  const refusals = answers.filter((a) => a.status === 503);
  t.ok(refusals.length >= 5 * WORKERS, `${refusals.length} refusals`);
  t.equal(refusals.filter((a) => a.retryAfter === undefined || !/^\d+$/.test(a.retryAfter)).length, 0, 'each with a Retry-After');
  t.equal(refusals.filter((a) => !/cannot reach its database|could not record this access/i.test(a.body)).length, 0, 'in words a person understands');
  t.equal(refusals.filter((a) => /terminat|shutting down|pg_|ECONN|57P0|stack|at .*\.ts:\d+/i.test(a.body)).length, 0, 'with nothing internal');

  for (let i = 0; i < 3; i++) t.equal((await request(url, { headers })).statusCode, 200, 'views are served again, by the same app');
  const served = count((a) => a.status === 200) + 3;
  t.ok((await shownViews()) - before >= served, `every page served has its audit event (${served} pages)`);
});
