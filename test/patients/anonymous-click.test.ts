// The button clicked by someone who is not signed in writes nothing to any database: not a
// session, not an audit row, not a control-plane row. The clinic comes from the directory cache,
// the return path rides in a signed cookie, the refusal is counted and logged. Then the same
// browser signs in and lands on the patient it asked for.
import t from 'tap';
import { sql, type Kysely } from 'kysely';
import type { Databases } from '../../src/infra/db.ts';
import { captureLogs } from '../helpers/logs.ts';
import { EXAMPLE_ID, PASSWORD, signIn, startPatientApp, textOf } from '../helpers/patients.ts';

type Snapshot = Record<string, { count: string; md5: string }>;

/** Every table of these schemas: its row count and a digest of all its rows. */
async function snapshot(db: Kysely<unknown>, schemas: string[]): Promise<Snapshot> {
  const tables = await sql<{ table_schema: string; table_name: string }>`
    select table_schema, table_name from information_schema.tables
    where table_schema = any(${schemas}) and table_type = 'BASE TABLE' order by 1, 2`.execute(db);
  const result: Snapshot = {};
  for (const { table_schema: schema, table_name: table } of tables.rows) {
    const { rows } = await sql<{ count: string; md5: string }>`
      select count(*)::text as count, md5(coalesce(string_agg(t::text, ',' order by t::text), '')) as md5
      from ${sql.id(schema, table)} t`.execute(db);
    result[`${schema}.${table}`] = rows[0]!;
  }
  return result;
}

t.test('an anonymous click writes nothing, then sign-in lands on the patient', async (t) => {
  const { logger, lines } = captureLogs();
  // A directory cache that outlives the test, so that "from the cache" does not depend on timing.
  const app = await startPatientApp(t, { loggerInstance: logger, env: { TENANT_CACHE_TTL_MS: '3600000' } });
  const db = app.runtime.databases.regions.get(app.clinic.tenant.regionId)!.db;
  const schemas = [app.clinic.schemaName, 'control'];
  const before = await snapshot(db, schemas);
  t.ok(Object.keys(before).includes(`${app.clinic.schemaName}.sessions`), 'the clinic’s tables are in the snapshot');
  t.ok(Object.keys(before).includes(`${app.clinic.schemaName}.audit_events`));
  t.ok(Object.keys(before).includes('control.tenants'), 'and the control plane’s');
  const checkouts = countCheckouts(app.runtime.databases);

  const browser = app.newClient();
  const patientUrl = `${app.origin}/patients?patient_id=${EXAMPLE_ID}`;
  const clicks = [
    // From Cliniko: a cross-site, top-level GET.
    await browser.get(patientUrl, {
      crossSite: true,
      headers: { 'sec-fetch-site': 'cross-site', referer: 'https://fitzroy-physio.au1.cliniko.com/patients/836447129235883061' },
    }),
    // Pasted into the address bar.
    await browser.get(patientUrl, { headers: { 'sec-fetch-site': 'none' } }),
    await browser.request('HEAD', patientUrl, { crossSite: true, headers: { 'sec-fetch-site': 'cross-site' } }),
  ];
  for (const click of clicks) {
    t.equal(click.status, 303);
    t.equal(click.location, '/login', 'to the clinic’s sign-in page');
    t.notOk(click.setCookie.some((line) => line.startsWith('sidechart=')), 'no session cookie (there is no session)');
  }
  t.ok(clicks[0]!.setCookie.some((line) => line.startsWith('sidechart-return=')), 'the return path is a cookie');
  const bad = await app.newClient().get(`${app.origin}/patients?patient_id=12x`, { crossSite: true, headers: { 'sec-fetch-site': 'cross-site' } });
  t.equal(bad.status, 400, 'a bad ID: the same 400 page as ever');
  t.match(textOf(bad.body), /patient_id must be digits only/);

  t.equal(checkouts(), 0, 'no database connection was even used: the clinic came from the directory cache');
  t.same(await snapshot(db, schemas), before, 'not one row written, changed or removed, in the clinic or the control plane');
  t.equal(app.sim.requestCount(), 0, 'Cliniko was not asked');

  const metrics = await app.app.metrics.metrics();
  t.match(metrics, /sidechart_anonymous_patient_requests_total\{reason="anonymous"\} 3/, 'the refusals are counted');
  t.match(metrics, /sidechart_anonymous_patient_requests_total\{reason="bad_patient_id"\} 1/);
  const denied = lines.filter((l) => l.event === 'patient_access_denied');
  t.same(denied.map((l) => [l.reason, l.patientId]), [['anonymous', EXAMPLE_ID], ['anonymous', EXAMPLE_ID], ['anonymous', EXAMPLE_ID], ['bad_patient_id', null]], 'and logged');
  t.ok(denied.every((l) => l.level === 30 && l.tenant === app.slug), 'at info, naming the clinic');
  t.notMatch(JSON.stringify(lines), /Aroha|Ngata/, 'no patient name in any log line');

  // Follow the redirect: sign in, and back to the patient through the return cookie.
  const signedIn = await signIn(browser, app.origin, app.user.email, PASSWORD);
  t.equal(signedIn.status, 303);
  t.equal(signedIn.location, `/patients?patient_id=${EXAMPLE_ID}`);
  const page = await browser.get(signedIn.redirectUrl!);
  t.equal(page.status, 200);
  t.match(textOf(page.body), /Aroha Ngata-O/, 'the patient it asked for');
  const events = await app.clinic.db.selectFrom('audit_events').select(['action', 'outcome', 'user_id']).orderBy('id').execute();
  t.same(events, [{ action: 'view', outcome: 'shown', user_id: app.user.id }], 'the audit trail holds the view, and no anonymous refusal');
  t.notSame(await snapshot(db, schemas), before, 'signing in and viewing do write (the snapshot sees writes)');
});

/** How many connections the app checks out of its pools (control plane and every region) from now on. */
function countCheckouts(databases: Databases): () => number {
  let checkouts = 0;
  const count = () => checkouts++;
  for (const pool of new Set([databases.controlPool, ...[...databases.regions.values()].map((r) => r.pool)])) pool.on('acquire', count);
  return () => checkouts;
}
