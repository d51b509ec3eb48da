// Cliniko misbehaving, against the simulator over real HTTP: a key for the wrong shard, patients
// gone, archived or merged, a 429 storm, resets, 5xx and timeouts. What Sidechart holds is never
// lost, the page still renders it with a banner saying why it could not refresh, and concurrent
// views of one patient cost one upstream call. Assertions are on content and status, never time.
import t, { type Test } from 'tap';
import { apiKeyAad, connectCliniko } from '../../src/cliniko/connection.ts';
import { DEMO_PATIENT_IDS } from '../../src/cliniko/simulator/index.ts';
import { savePatient } from '../../src/patients/sync.ts';
import { EXAMPLE_ID, startPatientApp, textOf, upstreamCalls, type PatientTestOptions } from '../helpers/patients.ts';

/** Every view refreshes (nothing is fresh), and budgets are generous so failures, not the clock, decide. */
const ALWAYS_REFRESH = {
  PATIENT_FRESH_SECONDS: '0',
  PATIENT_SYNC_RETRY_SECONDS: '0',
  PATIENT_REFRESH_BUDGET_MS: '5000',
  PATIENT_FETCH_BUDGET_MS: '5000',
  PATIENT_SYNC_DEADLINE_MS: '10000',
};

function start(t: Test, options: PatientTestOptions = {}) {
  return startPatientApp(t, { ...options, env: { ...ALWAYS_REFRESH, ...options.env } });
}

const HELD_NAME = 'Aroha Ngata-O&#39;Brien';

t.test('a key for the wrong shard (401): held record shown with the reason; unknown patient explained', async (t) => {
  const app = await start(t);
  t.equal((await app.view(EXAMPLE_ID)).status, 200);
  const before = await app.row(EXAMPLE_ID);

  // The clinic's key now names shard au2, where the account does not live: Cliniko's generic 401.
  const wrongShardKey = app.demo.apiKey.replace(/-au1$/, '-au2');
  await app.clinic.db.updateTable('cliniko_connection').set({ api_key_sealed: app.box.seal(wrongShardKey, apiKeyAad(app.clinic.schemaName)), shard: 'au2' }).execute();

  const page = await app.view(EXAMPLE_ID);
  t.equal(page.status, 200, 'the page still renders');
  t.ok(textOf(page.body).includes(HELD_NAME), 'with what Sidechart holds');
  t.match(page.body, /id="sync-banner">Could not refresh from Cliniko: Cliniko refused Sidechart’s API key \(the key is wrong or revoked, or belongs to another Cliniko shard\)/);
  t.ok(app.sim.requests().some((r) => r.host.startsWith('api.au2.') && r.status === 401), 'the request went to the au2 host and was refused');
  const after = await app.row(EXAMPLE_ID);
  t.same(after?.data, before?.data, 'the held record is untouched');
  t.equal(after?.fetched_at?.toString(), before?.fetched_at?.toString(), 'and so is when it was fetched');
  t.equal(after?.sync_error, 'unauthorized', 'the failure is recorded');

  const unknown = await app.view(DEMO_PATIENT_IDS.survivor);
  t.equal(unknown.status, 503);
  t.match(textOf(unknown.body), /Cliniko refused Sidechart’s API key/);
  t.match(textOf(unknown.body), /Sidechart does not hold patient/);
});

t.test('after a refused key, Cliniko is left alone for a while; reconnecting retries at once', async (t) => {
  const app = await start(t, { env: { PATIENT_SYNC_RETRY_SECONDS: '3600' } });
  t.equal((await app.view(EXAMPLE_ID)).status, 200);
  await app.clinic.db.updateTable('cliniko_connection').set({ api_key_sealed: app.box.seal('wrongwrongwrongwrong-au1', apiKeyAad(app.clinic.schemaName)) }).execute();
  t.match((await app.view(EXAMPLE_ID)).body, /Cliniko refused Sidechart’s API key/);
  const calls = app.sim.requestCount();
  t.match((await app.view(EXAMPLE_ID)).body, /Cliniko refused Sidechart’s API key/, 'still explained');
  t.equal(app.sim.requestCount(), calls, 'without asking Cliniko again');

  await connectCliniko(app.clinic, { apiKey: app.demo.apiKey, connectedBy: 'test', client: app.runtime.cliniko, box: app.box, apiBase: app.config.cliniko.apiBase });
  const fixed = await app.view(EXAMPLE_ID);
  t.notMatch(fixed.body, /id="sync-banner"/, 'refreshed with the new key');
  t.equal((await app.row(EXAMPLE_ID))?.sync_error, null);
});

t.test('a held patient Cliniko no longer has (404): kept and shown, with the reason', async (t) => {
  const app = await start(t);
  t.equal((await app.view(EXAMPLE_ID)).status, 200);
  app.sim.updatePatient(app.demo.apiKey, EXAMPLE_ID, { deleted_at: '2026-11-01T00:00:00Z' });
  const page = await app.view(EXAMPLE_ID);
  t.equal(page.status, 200);
  t.ok(textOf(page.body).includes(HELD_NAME));
  t.match(page.body, /Cliniko no longer has this patient/);
  t.equal((await app.row(EXAMPLE_ID))?.first_name, 'Aroha', 'held data not lost');
});

t.test('archived patients are shown as archived (first fetch and after archiving)', async (t) => {
  const app = await start(t);
  const archived = await app.view(DEMO_PATIENT_IDS.archived);
  t.equal(archived.status, 200, 'fetched although GET /patients/:id hides it (list with archived_at:*)');
  t.match(archived.body, /id="archived">Archived in Cliniko on 1 Aug 2023/);
  t.ok(textOf(archived.body).includes('Archie Vaughan'));

  t.notMatch((await app.view(EXAMPLE_ID)).body, /id="archived"/);
  app.sim.archivePatient(app.demo.apiKey, EXAMPLE_ID);
  const after = await app.view(EXAMPLE_ID);
  t.match(after.body, /id="archived">Archived in Cliniko on /);
  t.notMatch(after.body, /id="sync-banner"/, 'the refresh itself succeeded');
  t.ok((await app.row(EXAMPLE_ID))?.archived_at instanceof Date);
});

t.test('merged patients lead to the surviving record', async (t) => {
  const app = await start(t);
  const page = await app.view(DEMO_PATIENT_IDS.merged);
  t.equal(page.status, 200);
  t.match(page.body, /id="patient-name">Mereana Smith</, 'the survivor is shown');
  t.match(textOf(page.body), new RegExp(`Cliniko merged patient Mere Smith \\(ID ${DEMO_PATIENT_IDS.merged}\\) into this record`));
  t.ok(page.body.includes(`<code id="patient-id">${DEMO_PATIENT_IDS.survivor}</code>`));
  t.ok(page.body.includes(`action="/patients/${DEMO_PATIENT_IDS.survivor}/notes"`), 'notes go to the survivor');
  t.equal((await app.row(DEMO_PATIENT_IDS.merged))?.merged_into_id, DEMO_PATIENT_IDS.survivor, 'the merge is recorded');
  t.equal((await app.row(DEMO_PATIENT_IDS.survivor))?.first_name, 'Mereana');

  // A patient held before the merge: the next refresh finds the merge and follows it.
  t.equal((await app.view(EXAMPLE_ID)).status, 200);
  app.sim.mergePatient(app.demo.apiKey, EXAMPLE_ID, DEMO_PATIENT_IDS.survivor);
  const followed = await app.view(EXAMPLE_ID);
  t.match(followed.body, /id="patient-name">Mereana Smith</);
  t.match(textOf(followed.body), /Cliniko merged patient Aroha Ngata-O&#39;Brien/);
});

t.test('429 storm: Cliniko is not hammered, held records still render, unknown ones explained', async (t) => {
  const app = await start(t, { simulator: { rateLimit: { limit: 3, windowMs: 60_000 } } });
  const ids = ['7001', '7002', '7003', '7004', '7005', '7006'];
  for (const id of ids) app.sim.addPatient(app.demo.apiKey, { id, first_name: `Patient${id}`, last_name: 'Storm' });

  for (const id of ids.slice(0, 3)) t.equal((await app.view(id)).status, 200, `${id} fetched within the limit`);
  const limited = await app.view(ids[3]!);
  t.equal(limited.status, 503, 'over the limit: no record to show');
  t.match(textOf(limited.body), /Cliniko is limiting requests from Sidechart right now/);
  t.equal(app.sim.stats().rateLimited, 1, 'one 429');

  // The storm: everyone clicks at once. The client honours X-RateLimit-Reset: nothing reaches Cliniko.
  const before = app.sim.requestCount();
  const storm = await Promise.all([...ids, ...ids, ...ids].map((id) => app.view(id)));
  t.equal(app.sim.requestCount(), before, 'no request sent to Cliniko while it asked us to wait');
  for (const [index, res] of storm.entries()) {
    const id = [...ids, ...ids, ...ids][index]!;
    if (ids.slice(0, 3).includes(id)) {
      t.equal(res.status, 200, `${id}: held, so shown`);
      t.ok(textOf(res.body).includes(`Patient${id} Storm`), `${id}: with its data`);
      t.match(res.body, /id="sync-banner">Could not refresh from Cliniko: Cliniko is limiting requests/, `${id}: and the reason`);
    } else {
      t.equal(res.status, 503, `${id}: not held`);
    }
  }
  t.ok(app.sim.stats().maxServedInWindow <= 3, 'never more than the limit served in a window');
});

t.test('connection resets, 5xx and 403: held record shown with the reason, unknown explained', async (t) => {
  const app = await start(t);
  t.equal((await app.view(EXAMPLE_ID)).status, 200);
  const unavailable = /Cliniko is not answering properly right now/;
  for (const [name, fault, reason] of [
    ['reset', { reset: true }, unavailable],
    ['503', { status: 503 }, unavailable],
    ['403', { status: 403 }, /Cliniko did not allow Sidechart’s API key to read this patient/],
  ] as const) {
    app.sim.setFault(fault);
    const page = await app.view(EXAMPLE_ID);
    t.equal(page.status, 200, `${name}: renders`);
    t.ok(textOf(page.body).includes(HELD_NAME), `${name}: held data`);
    t.match(page.body, reason, `${name}: reason`);
    const unknown = await app.view(DEMO_PATIENT_IDS.survivor);
    t.equal(unknown.status, 503, `${name}: unknown patient`);
    t.match(textOf(unknown.body), reason);
    app.sim.clearFaults();
  }
  t.equal((await app.row(EXAMPLE_ID))?.first_name, 'Aroha');
  const recovered = await app.view(EXAMPLE_ID);
  t.notMatch(recovered.body, /id="sync-banner"/, 'once Cliniko answers again, the banner goes');
  t.notMatch(recovered.body, /Last refresh failed/);
});

t.test('timeouts: the held record is served within the refresh budget, the refresh finishes in the background', async (t) => {
  const app = await startPatientApp(t, {
    env: {
      PATIENT_FRESH_SECONDS: '0',
      PATIENT_SYNC_RETRY_SECONDS: '3600',
      PATIENT_REFRESH_BUDGET_MS: '50',
      PATIENT_FETCH_BUDGET_MS: '200',
      PATIENT_SYNC_DEADLINE_MS: '400',
    },
  });
  t.equal((await app.view(EXAMPLE_ID)).status, 200);
  app.sim.setFault({ hang: true });

  const page = await app.view(EXAMPLE_ID);
  t.equal(page.status, 200);
  t.ok(textOf(page.body).includes(HELD_NAME));
  t.match(page.body, /id="sync-banner">Cliniko is slow to answer: this is what Sidechart holds. A refresh is under way/);

  const unknown = await app.view(DEMO_PATIENT_IDS.survivor);
  t.equal(unknown.status, 503);
  t.match(textOf(unknown.body), /Cliniko did not answer in time/);
  t.match(textOf(unknown.body), /Sidechart is still asking Cliniko: reload this page in a moment/);

  await app.runtime.patientSync.idle();
  t.equal((await app.row(EXAMPLE_ID))?.sync_error, 'timeout', 'the background refresh gave up at its deadline and said so');
  t.equal((await app.row(EXAMPLE_ID))?.first_name, 'Aroha', 'held data kept');

  // Within PATIENT_SYNC_RETRY_SECONDS of a failure Cliniko is not asked again.
  const calls = app.sim.requestCount();
  const next = await app.view(EXAMPLE_ID);
  t.match(next.body, /Could not refresh from Cliniko: Cliniko did not answer in time/);
  t.equal(app.sim.requestCount(), calls, 'no new upstream call');
});

t.test('a slow first fetch that outlives its page still stores the patient for the next click', async (t) => {
  const app = await startPatientApp(t, {
    env: { PATIENT_REFRESH_BUDGET_MS: '0', PATIENT_FETCH_BUDGET_MS: '50', PATIENT_SYNC_DEADLINE_MS: '30000' },
  });
  // Cliniko answers, but far later than the page's budget.
  app.sim.setFault({ latencyMs: 1_000, times: 1 }, { patientId: EXAMPLE_ID });
  const page = await app.view(EXAMPLE_ID);
  t.equal(page.status, 503);
  t.match(textOf(page.body), /still asking Cliniko/);
  await app.runtime.patientSync.idle();
  const next = await app.view(EXAMPLE_ID);
  t.equal(next.status, 200);
  t.ok(textOf(next.body).includes(HELD_NAME));
  t.equal(upstreamCalls(app.sim, EXAMPLE_ID), 1, 'one fetch served both clicks');
});

t.test('concurrent views of one patient make one upstream call', async (t) => {
  const app = await startPatientApp(t);
  // Cliniko is slow enough that the clicks overlap the fetch.
  app.sim.setFault({ latencyMs: 200 }, { patientId: EXAMPLE_ID });
  const pages = await Promise.all(Array.from({ length: 25 }, () => app.view(EXAMPLE_ID)));
  t.same(pages.map((p) => p.status), pages.map(() => 200));
  t.ok(pages.every((p) => textOf(p.body).includes(HELD_NAME)));
  t.equal(upstreamCalls(app.sim, EXAMPLE_ID), 1, 'one call for 25 concurrent first views');

  // Held but stale: one refresh for a burst of views.
  const record = app.sim.addPatient(app.demo.apiKey, { id: '5150', first_name: 'Stale', last_name: 'Record' });
  await savePatient(app.clinic, { ...record, first_name: 'Old' }, new Date(Date.now() - 3_600_000));
  app.sim.setFault({ latencyMs: 200 }, { patientId: '5150' });
  const stale = await Promise.all(Array.from({ length: 25 }, () => app.view('5150')));
  t.ok(stale.every((p) => p.status === 200));
  t.equal(upstreamCalls(app.sim, '5150'), 1, 'one refresh for 25 concurrent views of a stale record');
  await app.runtime.patientSync.idle();
  t.equal((await app.row('5150'))?.first_name, 'Stale', 'and it was stored');
});
