// The audit trail: exactly one event per view (also under 200 concurrent views), refused attempts
// recorded (an anonymous visitor's only counted), rows that cannot be changed or removed, a page
// withheld when its event cannot be written, and `sidechart audit` to read it.
import t from 'tap';
import { sql } from 'kysely';
import { cli } from '../helpers/app.ts';
import { createHttpClient } from '../helpers/http-client.ts';
import { addUser, tenantDb } from '../helpers/fixtures.ts';
import { EXAMPLE_ID, MAX_ID, csrfTokenIn, signIn, startPatientApp } from '../helpers/patients.ts';

t.test('each view writes exactly one event, with who, what and from where', async (t) => {
  const app = await startPatientApp(t);
  const page = await app.http.get(`${app.origin}/patients?patient_id=${EXAMPLE_ID}`, {
    crossSite: true,
    headers: { 'sec-fetch-site': 'cross-site', referer: 'https://fitzroy-physio.au1.cliniko.com/patients/836447129235883061', 'user-agent': 'Mozilla/5.0 (test browser)' },
  });
  t.equal(page.status, 200);
  const events = await app.clinic.db.selectFrom('audit_events').selectAll().execute();
  t.equal(events.length, 1);
  const event = events[0]!;
  t.equal(event.action, 'view');
  t.equal(event.outcome, 'shown');
  t.equal(event.user_id, app.user.id);
  t.equal(event.patient_id, EXAMPLE_ID, 'the 64-bit ID exactly');
  t.equal(event.client_ip, '127.0.0.1');
  t.equal(event.user_agent, 'Mozilla/5.0 (test browser)');
  t.equal(event.sec_fetch_site, 'cross-site');
  t.equal(event.referrer, 'https://fitzroy-physio.au1.cliniko.com/patients/836447129235883061');
  t.equal(event.detail, 'fetched');
  t.ok(event.occurred_at instanceof Date);
  t.match(event.request_id, /^[0-9a-f-]{36}$/);

  await app.view(EXAMPLE_ID);
  await app.view(MAX_ID);
  await app.view('424242');
  const all = await app.clinic.db.selectFrom('audit_events').select(['action', 'outcome', 'patient_id', 'detail']).orderBy('id').execute();
  t.same(all, [
    { action: 'view', outcome: 'shown', patient_id: EXAMPLE_ID, detail: 'fetched' },
    { action: 'view', outcome: 'shown', patient_id: EXAMPLE_ID, detail: 'fresh' },
    { action: 'view', outcome: 'shown', patient_id: MAX_ID, detail: 'fetched' },
    { action: 'view', outcome: 'not_found', patient_id: '424242', detail: null },
  ]);
});

t.test('200 concurrent views: 200 events, no more, no fewer', async (t) => {
  const app = await startPatientApp(t);
  t.equal((await app.view(EXAMPLE_ID)).status, 200);
  const pages = await Promise.all(Array.from({ length: 200 }, () => app.view(EXAMPLE_ID)));
  t.ok(pages.every((p) => p.status === 200), 'every view served');
  const [row] = await app.clinic.db
    .selectFrom('audit_events')
    .select((eb) => [eb.fn.countAll<string>().as('events'), eb.fn.count<string>('request_id').distinct().as('requests')])
    .where('action', '=', 'view')
    .execute();
  t.equal(row?.events, '201', 'one event per view');
  t.equal(row?.requests, '201', 'each from its own request');
});

t.test('refused attempts: bad ID and another clinic’s session recorded; anonymous ones counted, not recorded', async (t) => {
  const app = await startPatientApp(t);
  const anonymous = app.newClient();
  const redirect = await anonymous.get(`${app.origin}/patients?patient_id=${EXAMPLE_ID}`, { crossSite: true, headers: { 'sec-fetch-site': 'cross-site' } });
  t.equal(redirect.status, 303);
  const signedInBadId = await app.http.get(`${app.origin}/patients?patient_id=-12`);
  t.equal(signedInBadId.status, 400);
  const anonymousBadId = await anonymous.get(`${app.origin}/patients?patient_id=-12`, { crossSite: true, headers: { 'sec-fetch-site': 'cross-site' } });
  t.equal(anonymousBadId.status, 400, 'an anonymous bad ID: the same 400 page');
  t.match(anonymousBadId.body, /patient_id must be digits only/);

  // Someone signed in at another clinic replays that clinic's session cookie on this clinic's host.
  await app.runtime.tenants.create({ slug: 'other' });
  const otherDb = await tenantDb(app.runtime, 'other');
  await addUser(app.runtime, 'other', { email: 'eve@other.example', name: 'Eve' });
  const eve = createHttpClient();
  t.teardown(() => eve.close());
  const otherOrigin = `http://other.localhost:${app.port}`;
  t.equal((await signIn(eve, otherOrigin, 'eve@other.example')).status, 303);
  const replayed = await eve.get(`${app.origin}/patients?patient_id=${EXAMPLE_ID}`, { headers: { cookie: eve.cookieHeader(otherOrigin) } });
  t.equal(replayed.status, 303, 'the other clinic’s session is useless here');
  t.equal(replayed.redirectUrl, `${app.origin}/login`);
  const replayedBadId = await eve.get(`${app.origin}/patients?patient_id=-12`, { headers: { cookie: eve.cookieHeader(otherOrigin) } });
  t.equal(replayedBadId.status, 400);

  // A visitor who is not signed in but holds a valid CSRF token (from the sign-in form) gets past
  // the CSRF check: the note route itself refuses, and counts the attempt.
  const form = await anonymous.get(`${app.origin}/login`);
  const note = await anonymous.post(`${app.origin}/patients/${EXAMPLE_ID}/notes`, { text: 'hi', _csrf: csrfTokenIn(form) });
  t.equal(note.status, 401, 'an anonymous note is refused as not signed in (not by the CSRF check)');
  t.equal(await app.clinic.db.selectFrom('patient_notes').select('id').executeTakeFirst(), undefined, 'no note was written');

  const events = await app.clinic.db.selectFrom('audit_events').select(['action', 'outcome', 'user_id', 'patient_id', 'detail', 'sec_fetch_site']).orderBy('id').execute();
  t.same(events, [
    { action: 'denied', outcome: 'bad_patient_id', user_id: app.user.id, patient_id: null, detail: 'patient_id must be digits only', sec_fetch_site: null },
    { action: 'denied', outcome: 'other_clinic_session', user_id: null, patient_id: EXAMPLE_ID, detail: null, sec_fetch_site: null },
    { action: 'denied', outcome: 'bad_patient_id', user_id: null, patient_id: null, detail: 'patient_id must be digits only', sec_fetch_site: null },
  ], 'the signed-in user’s bad ID and both attempts with another clinic’s session; no anonymous row');
  const metrics = await app.app.metrics.metrics();
  t.match(metrics, /sidechart_anonymous_patient_requests_total\{reason="anonymous"\} 2/, 'the anonymous view and note are counted');
  t.match(metrics, /sidechart_anonymous_patient_requests_total\{reason="bad_patient_id"\} 1/, 'and the anonymous bad ID');
  t.notMatch(metrics, /sidechart_anonymous_patient_requests_total\{[^}]*tenant/, 'no clinic label');
  t.equal(app.sim.requestCount(), 0, 'no refused attempt reached Cliniko');
  t.equal((await otherDb.selectFrom('audit_events').selectAll().execute()).length, 0, 'nothing written to the other clinic');
});

t.test('a note writes one note_added event, in the same transaction as the note', async (t) => {
  const app = await startPatientApp(t);
  const page = await app.view(EXAMPLE_ID);
  const res = await app.http.post(`${app.origin}/patients/${EXAMPLE_ID}/notes`, { text: 'Follow up in two weeks.', _csrf: csrfTokenIn(page) });
  t.equal(res.status, 303);
  const events = await app.clinic.db.selectFrom('audit_events').selectAll().where('action', '=', 'note_added').execute();
  t.equal(events.length, 1);
  t.equal(events[0]!.user_id, app.user.id);
  t.equal(events[0]!.patient_id, EXAMPLE_ID);
  t.equal(events[0]!.outcome, 'ok');
});

t.test('audit rows cannot be updated, deleted or truncated', async (t) => {
  const app = await startPatientApp(t);
  await app.view(EXAMPLE_ID);
  const db = app.clinic.db;
  await t.rejects(sql`update ${sql.id(app.clinic.schemaName, 'audit_events')} set outcome = 'edited'`.execute(db), /append-only: UPDATE refused/);
  await t.rejects(sql`delete from ${sql.id(app.clinic.schemaName, 'audit_events')}`.execute(db), /append-only: DELETE refused/);
  await t.rejects(sql`truncate ${sql.id(app.clinic.schemaName, 'audit_events')}`.execute(db), /append-only: TRUNCATE refused/);
  const rows = await db.selectFrom('audit_events').select(['outcome']).execute();
  t.same(rows, [{ outcome: 'shown' }], 'the event is intact');
});

t.test('no event, no page: a view whose event cannot be written is withheld (503)', async (t) => {
  const app = await startPatientApp(t);
  t.equal((await app.view(EXAMPLE_ID)).status, 200);
  // Make the insert fail the way a broken database would, for this clinic only.
  const table = sql.id(app.clinic.schemaName, 'audit_events');
  await sql`alter table ${table} add constraint audit_broken check (false) not valid`.execute(app.clinic.db);
  const withheld = await app.view(EXAMPLE_ID);
  t.equal(withheld.status, 503);
  t.notMatch(withheld.body, /Aroha/, 'no patient data in the answer');
  t.match(withheld.body, /could not record this access in the audit trail, so the patient is not shown/);
  await sql`alter table ${table} drop constraint audit_broken`.execute(app.clinic.db);
  t.equal((await app.view(EXAMPLE_ID)).status, 200);
});

t.test('sidechart audit lists events with filters, as text or JSON', async (t) => {
  const app = await startPatientApp(t);
  await app.view(EXAMPLE_ID);
  await app.view(MAX_ID);
  await app.view(EXAMPLE_ID);

  const all = await cli(app.env, ['audit', 'acme', '--json']);
  t.equal(all.code, 0, all.err);
  const events = JSON.parse(all.out) as Array<{ patient_id: string; action: string; user_email: string | null }>;
  t.equal(events.length, 3);
  t.equal(events[0]!.patient_id, EXAMPLE_ID, 'newest first');
  t.equal(events[0]!.user_email, app.user.email);

  const one = await cli(app.env, ['audit', 'acme', '--patient', MAX_ID, '--json']);
  t.same((JSON.parse(one.out) as Array<{ patient_id: string }>).map((e) => e.patient_id), [MAX_ID]);
  const limited = await cli(app.env, ['audit', 'acme', '--limit', '2', '--json']);
  t.equal((JSON.parse(limited.out) as unknown[]).length, 2);
  const future = await cli(app.env, ['audit', 'acme', '--since', '2999-01-01']);
  t.equal(future.code, 0);
  t.match(future.out, /no audit events for acme since 2999-01-01T00:00:00.000Z/);
  const text = await cli(app.env, ['audit', 'acme']);
  t.match(text.out, /^TIME\tACTION\tOUTCOME\tUSER\tPATIENT/);
  t.match(text.out, new RegExp(`view\\tshown\\t${app.user.id} ${app.user.email}\\t${MAX_ID}\\t127\\.0\\.0\\.1`));
  t.match(text.out, /3 event\(s\)$/);

  for (const [args, message] of [
    [['--patient', '12x'], /--patient: patient_id must be digits only/],
    [['--since', 'yesterday'], /--since must be an ISO date/],
    [['--since', '2026-02-30'], /not a real date|ISO date/],
    [['--limit', '0'], /--limit must be a whole number/],
  ] as const) {
    const res = await cli(app.env, ['audit', 'acme', ...args]);
    t.equal(res.code, 2, `${args.join(' ')}: a usage error`);
    t.match(res.err, message);
  }
  const missing = await cli(app.env, ['audit', 'nope']);
  t.equal(missing.code, 1);
  t.match(missing.err, /no clinic "nope"/);
});
