// A read-only clinic (moving between regions, issue 12): staff who are signed in can still open
// the patients Sidechart holds (audited, without asking Cliniko); every change, sign-in and
// sign-out gets one clear 503 page and nothing is stored; another clinic is untouched; writable
// again at once when the flag is lifted (NOTIFY, not a TTL). At the database, a frozen schema
// refuses writes with 25006 except audit inserts, and a write that slips past the app still gets
// the read-only page, not a 500. The CLI commands say what they did.
import t from 'tap';
import { sql, type Kysely } from 'kysely';
import type { Runtime } from '../../src/runtime.ts';
import { freezeSchema, readOnlyRefusal, thawSchema } from '../../src/tenancy/read-only.ts';
import { DEMO_PATIENT_IDS } from '../../src/cliniko/simulator/demo-data.ts';
import { buildTestApp, cli, testEnv } from '../helpers/app.ts';
import { startOidcProvider } from '../helpers/oidc-provider.ts';
import { addUser, ageSession, client, csrfTokenIn, proxiedBrowsers, sessionCookie, sessionIdOf, sessionRows, signInWithPassword, PASSWORD, TEST_AUTH_ENV } from '../helpers/fixtures.ts';
import { EXAMPLE_ID, startPatientApp, textOf, upstreamCalls } from '../helpers/patients.ts';

const NOTICE = /id="read-only-notice">This clinic is read-only while it is being moved \(since \d\d:\d\d UTC\)\. You can open patients; changes are paused and will be possible again in a few minutes\./;

/** Changes the flag and waits until this app's directory has heard of it (the NOTIFY). */
async function setReadOnly(runtime: Runtime, slug: string, readOnly: boolean, reason?: string) {
  const heard = new Promise<void>((resolve) => {
    const listener = (changed: string | undefined) => {
      if (changed !== slug) return;
      runtime.directory.events.off('invalidated', listener);
      resolve();
    };
    runtime.directory.events.on('invalidated', listener);
  });
  const summary = await runtime.tenants.setReadOnly(slug, readOnly, reason);
  await heard;
  return summary;
}

function regionDb(runtime: Runtime): Kysely<any> {
  return runtime.databases.regions.get('local')!.db as Kysely<any>;
}

t.test('which requests a read-only clinic refuses (pure)', async (t) => {
  for (const [method, declared, expected] of [
    ['GET', undefined, null],
    ['HEAD', undefined, null],
    ['OPTIONS', undefined, null],
    ['GET', 'sign-in', 'sign-in'],
    ['POST', undefined, 'change'],
    ['put', undefined, 'change'],
    ['PATCH', undefined, 'change'],
    ['DELETE', undefined, 'change'],
    ['POST', 'sign-out', 'sign-out'],
  ] as const) {
    t.equal(readOnlyRefusal(method, declared), expected, `${method} ${declared ?? ''}`);
  }
});

t.test('a read-only clinic: patients open, every change is refused, another clinic is untouched, writable again at once', async (t) => {
  const app = await startPatientApp(t);
  const { runtime, origin } = app;
  // Hold one patient, then let it go stale: a normal view would refresh it from Cliniko.
  const first = await app.view(EXAMPLE_ID);
  t.equal(first.status, 200);
  const noteToken = csrfTokenIn(first);
  await app.clinic.db.updateTable('patients').set({ fetched_at: new Date(Date.now() - 86_400_000) }).where('cliniko_id', '=', EXAMPLE_ID).execute();

  // An admin with the staff page open, and a visitor with the sign-in form open, before the move.
  await addUser(runtime, app.slug, { email: 'ada@acme.example', name: 'Ada Admin', role: 'admin' });
  const admin = client({}, t);
  t.equal((await signInWithPassword(admin, origin, 'ada@acme.example')).status, 303);
  const staffToken = csrfTokenIn(await admin.get(`${origin}/admin/staff`));
  const visitor = client({}, t);
  const loginToken = csrfTokenIn(await visitor.get(`${origin}/login`));

  // Another clinic, with a signed-in user of its own.
  await runtime.tenants.create({ slug: 'other', displayName: 'Other Clinic' });
  await addUser(runtime, 'other', { email: 'oli@other.example', name: 'Oli' });
  const otherOrigin = `http://other.localhost:${app.port}`;
  const other = client({}, t);

  const summary = await setReadOnly(runtime, app.slug, true);
  t.ok(summary.readOnlySince instanceof Date, 'the summary says since when');
  t.equal(summary.readOnlyReason, null);
  const again = await setReadOnly(runtime, app.slug, true);
  t.equal(again.readOnlySince?.getTime(), summary.readOnlySince?.getTime(), 'idempotent: it keeps the time it became read-only');
  app.sim.resetCounters();

  await t.test('every page says so', async (t) => {
    const home = await app.http.get(`${origin}/`);
    t.equal(home.status, 200);
    t.match(home.body, NOTICE);
    t.ok(home.body.includes(`(since ${summary.readOnlySince!.toISOString().slice(11, 16)} UTC)`), 'since when, in UTC');
  });

  await t.test('a held patient opens from what Sidechart holds, audited, without asking Cliniko', async (t) => {
    const sessionsBefore = await sessionRows(runtime, app.slug);
    const page = await app.view(EXAMPLE_ID);
    t.equal(page.status, 200);
    t.ok(textOf(page.body).includes('Aroha Ngata-O&#39;Brien'), 'the record is shown');
    t.match(page.body, NOTICE);
    t.match(page.body, /id="sync-banner">Not refreshed from Cliniko, because this clinic is read-only/);
    t.match(page.body, /id="notes-paused"/, 'the note form is replaced by a notice');
    t.notMatch(page.body, /id="add-note"/);
    t.equal(upstreamCalls(app.sim, EXAMPLE_ID), 0, 'Cliniko was not asked');
    t.equal(app.sim.requestCount(), 0, 'nor anything else');
    const audit = await app.clinic.db.selectFrom('audit_events').selectAll().where('action', '=', 'view').orderBy('id', 'desc').executeTakeFirstOrThrow();
    t.equal(audit.patient_id, EXAMPLE_ID, 'the view is audited');
    t.equal(audit.outcome, 'shown');
    t.match(audit.detail, /read_only/);
    t.same(await sessionRows(runtime, app.slug), sessionsBefore, 'no session row was written');
  });

  await t.test('the session is not touched while read-only', async (t) => {
    const id = sessionIdOf(sessionCookie(app.http, `${app.slug}.localhost`)!);
    await ageSession(runtime, app.slug, id, { seenAgoMs: 5 * 60_000 });
    const before = (await sessionRows(runtime, app.slug)).find((row) => row.id === id)!;
    t.equal((await app.http.get(`${origin}/`)).status, 200, 'still signed in');
    const after = (await sessionRows(runtime, app.slug)).find((row) => row.id === id)!;
    t.same(after.data, before.data, 'seenAt not written back');
    t.equal(after.updated_at.getTime(), before.updated_at.getTime());
  });

  await t.test('a patient Sidechart does not hold gets the read-only page (audited)', async (t) => {
    const page = await app.view(DEMO_PATIENT_IDS.archived);
    t.equal(page.status, 503);
    t.equal(page.header('retry-after'), '60');
    t.match(page.body, /has not been opened in Sidechart before/);
    t.match(page.body, NOTICE);
    t.equal(app.sim.requestCount(), 0, 'Cliniko was not asked');
    t.equal(await app.row(DEMO_PATIENT_IDS.archived), undefined, 'nothing was stored');
    const audit = await app.clinic.db.selectFrom('audit_events').selectAll().where('patient_id', '=', DEMO_PATIENT_IDS.archived).executeTakeFirstOrThrow();
    t.equal(audit.outcome, 'read_only');
  });

  await t.test('a note: 503, nothing saved', async (t) => {
    const posted = await app.http.post(`${origin}/patients/${EXAMPLE_ID}/notes`, { text: 'during the move', _csrf: noteToken });
    t.equal(posted.status, 503);
    t.equal(posted.header('retry-after'), '60');
    t.equal(posted.header('cache-control'), 'no-store');
    t.match(posted.body, /This clinic is read-only for a few minutes/);
    t.match(posted.body, /nothing was saved/);
    t.match(posted.body, NOTICE);
    t.match(posted.body, /Signed in as/, 'the page keeps the signed-in chrome');
    t.equal((await app.clinic.db.selectFrom('patient_notes').selectAll().execute()).length, 0);
    const json = await app.http.post(`${origin}/patients/${EXAMPLE_ID}/notes`, { text: 'x', _csrf: noteToken }, { headers: { accept: 'application/json' } });
    t.equal(json.status, 503);
    t.equal(JSON.parse(json.body).error, 'clinic_read_only', 'the stable code, for API clients');
  });

  await t.test('sign-out is refused and says the user is still signed in', async (t) => {
    const rowsBefore = await sessionRows(runtime, app.slug);
    const out = await app.http.post(`${origin}/logout`, { _csrf: noteToken });
    t.equal(out.status, 503);
    t.match(out.body, /Signing out is paused/);
    t.match(out.body, /you are still signed in/);
    t.same((await sessionRows(runtime, app.slug)).map((r) => r.id), rowsBefore.map((r) => r.id), 'no session was deleted');
    const still = await app.view(EXAMPLE_ID);
    t.equal(still.status, 200, 'the session still works');
  });

  await t.test('sign-in is refused, the form and its submission', async (t) => {
    const form = await visitor.get(`${origin}/login`);
    t.equal(form.status, 503);
    t.match(form.body, /Signing in is paused/);
    const posted = await visitor.post(`${origin}/login`, { email: app.user.email, password: PASSWORD, _csrf: loginToken });
    t.equal(posted.status, 503);
    t.match(posted.body, /Signing in is paused/);
    t.equal(sessionCookie(visitor, `${app.slug}.localhost`), undefined, 'no session');
  });

  await t.test('the GET steps of signing in that store something are refused too', async (t) => {
    for (const path of ['/login/oidc', '/login/oidc/callback?state=s&code=c', '/signup/complete?token=abc', '/invitations/accept?token=abc']) {
      const page = await visitor.get(`${origin}${path}`);
      t.equal(page.status, 503, path);
      t.match(page.body, /Signing in is paused/, path);
    }
  });

  await t.test('an admin form: 503, nothing saved', async (t) => {
    const invited = await admin.post(`${origin}/admin/staff/invitations`, { email: 'new@acme.example', role: 'staff', _csrf: staffToken });
    t.equal(invited.status, 503);
    t.match(invited.body, /nothing was saved/);
    t.equal((await app.clinic.db.selectFrom('invitations').selectAll().execute()).length, 0);
    const page = await admin.get(`${origin}/admin/staff`);
    t.equal(page.status, 200, 'admin pages still open');
    t.match(page.body, NOTICE);
  });

  await t.test('another clinic is unaffected', async (t) => {
    const signedIn = await signInWithPassword(other, otherOrigin, 'oli@other.example');
    t.equal(signedIn.status, 303, 'signs in');
    const home = await other.get(`${otherOrigin}/`);
    t.equal(home.status, 200);
    t.notMatch(home.body, /read-only-notice/);
  });

  await t.test('writable again: at once, on the notification', async (t) => {
    const writable = await setReadOnly(runtime, app.slug, false);
    t.equal(writable.readOnlySince, null);
    const posted = await app.http.post(`${origin}/patients/${EXAMPLE_ID}/notes`, { text: 'after the move', _csrf: noteToken });
    t.equal(posted.status, 303, posted.body.slice(0, 300));
    t.equal((await app.clinic.db.selectFrom('patient_notes').selectAll().execute()).length, 1);
    const page = await app.view(EXAMPLE_ID);
    t.notMatch(page.body, /read-only-notice/);
    t.match(page.body, /id="add-note"/);
    const imported = await app.view(DEMO_PATIENT_IDS.archived);
    t.equal(imported.status, 200, 'a patient Sidechart did not hold is fetched from Cliniko again');
    t.ok(upstreamCalls(app.sim, DEMO_PATIENT_IDS.archived) > 0);
  });
});

t.test('the reason is shown instead of "while it is being moved", escaped', async (t) => {
  const app = await startPatientApp(t);
  const reason = 'moving to <b>EU</b> & "back"';
  const summary = await setReadOnly(app.runtime, app.slug, true, reason);
  t.equal(summary.readOnlyReason, reason);
  const home = await app.http.get(`${app.origin}/`);
  t.match(home.body, /This clinic is read-only: moving to &lt;b&gt;EU&lt;\/b&gt; &amp; &quot;back&quot; \(since \d\d:\d\d UTC\)\./);
  t.notMatch(home.body, /<b>EU<\/b>/);
  const kept = await setReadOnly(app.runtime, app.slug, true);
  t.equal(kept.readOnlyReason, reason, 'set again without a reason: the reason stays');
  await t.rejects(app.runtime.tenants.setReadOnly(app.slug, true, 'x'.repeat(201)), { code: 'invalid_reason' });
  await t.rejects(app.runtime.tenants.setReadOnly('nobody', true), { code: 'tenant_not_found' });
});

t.test('a frozen schema: writes refused with 25006 except audit inserts; the app answers with the read-only page', async (t) => {
  const app = await startPatientApp(t);
  const { runtime, origin, clinic } = app;
  const db = regionDb(runtime);
  const schema = clinic.schemaName;
  t.equal((await app.view(EXAMPLE_ID)).status, 200);
  const token = csrfTokenIn(await app.http.get(`${origin}/patients?patient_id=${EXAMPLE_ID}`));

  await freezeSchema(db, schema);
  await freezeSchema(db, schema); // idempotent
  const fn = await sql<{ schema: string }>`select n.nspname as schema from pg_proc p join pg_namespace n on n.oid = p.pronamespace where p.proname = 'sidechart_refuse_write'`.execute(db);
  t.same(fn.rows, [{ schema }], 'the trigger function lives in the clinic schema, and only there');

  await t.rejects(sql`insert into ${sql.id(schema, 'patients')} (cliniko_id, first_name, last_name, data) values (1, 'A', 'B', '{}')`.execute(db), { code: '25006' }, 'a raw INSERT into patients is refused');
  await t.rejects(sql`update ${sql.id(schema, 'users')} set name = name`.execute(db), { code: '25006' }, 'an UPDATE is refused');
  await t.rejects(sql`delete from ${sql.id(schema, 'sessions')}`.execute(db), { code: '25006' }, 'a DELETE is refused');
  await t.rejects(sql`truncate ${sql.id(schema, 'patient_notes')}`.execute(db), { code: '25006' }, 'a TRUNCATE is refused');
  await sql`insert into ${sql.id(schema, 'audit_events')} (action, outcome) values ('view', 'frozen-test')`.execute(db);
  t.pass('an audit INSERT is accepted');
  await t.rejects(sql`update ${sql.id(schema, 'audit_events')} set outcome = 'x'`.execute(db), { code: '25006' }, 'audit rows cannot be changed');
  await t.rejects(sql`delete from ${sql.id(schema, 'audit_events')}`.execute(db), { code: '25006' }, 'nor deleted');

  // The app's flag is off: the write reaches the database, which refuses it.
  const posted = await app.http.post(`${origin}/patients/${EXAMPLE_ID}/notes`, { text: 'slipped through', _csrf: token });
  t.equal(posted.status, 503, 'the read-only page, not a 500');
  t.equal(posted.header('retry-after'), '60');
  t.match(posted.body, /This clinic is read-only for a few minutes/);
  t.match(posted.body, /nothing was saved/);
  const viewed = await app.view(EXAMPLE_ID);
  t.equal(viewed.status, 200, 'a held, fresh patient still opens (its audit row is an insert)');

  await thawSchema(db, schema);
  await thawSchema(db, schema); // idempotent
  const triggers = await sql<{ n: number }>`select count(*)::int as n from pg_trigger where tgname = 'sidechart_read_only'`.execute(db);
  t.equal(triggers.rows[0]!.n, 0, 'no trigger is left');
  await sql`insert into ${sql.id(schema, 'patients')} (cliniko_id, first_name, last_name, data) values (1, 'A', 'B', '{}')`.execute(db);
  t.pass('writes work again');
  const after = await app.http.post(`${origin}/patients/${EXAMPLE_ID}/notes`, { text: 'after the thaw', _csrf: token });
  t.equal(after.status, 303);

  await t.rejects(freezeSchema(db, 'public'), /non-tenant schema/, 'never anything but a clinic schema');
});

t.test('the CLI: read-only, show, writable', async (t) => {
  const env = await testEnv(t);
  t.equal((await cli(env, ['tenants', 'create', 'acme'])).code, 0);

  const ro = await cli(env, ['tenants', 'read-only', 'acme', '--reason', 'moving to eu']);
  t.equal(ro.code, 0, ro.err);
  t.match(ro.out, /^clinic acme is read-only since \d{4}-\d\d-\d\dT[\d:.]+Z \(reason: moving to eu\): patients can be opened, changes are refused$/);
  const show = await cli(env, ['tenants', 'show', 'acme']);
  t.match(show.out, /read-only: +since \d{4}-\d\d-\d\dT[\d:.]+Z \(moving to eu\)/);
  const json = await cli(env, ['tenants', 'show', 'acme', '--json']);
  t.ok(JSON.parse(json.out).readOnlySince, 'JSON too');

  const rw = await cli(env, ['tenants', 'writable', 'acme']);
  t.equal(rw.code, 0, rw.err);
  t.equal(rw.out, 'clinic acme is writable: changes are accepted again');
  t.match((await cli(env, ['tenants', 'show', 'acme'])).out, /read-only: +no/);
  t.equal((await cli(env, ['tenants', 'writable', 'acme'])).code, 0, 'idempotent');

  const unknown = await cli(env, ['tenants', 'read-only', 'nobody']);
  t.equal(unknown.code, 1);
  t.match(unknown.err, /no clinic "nobody"/);
  const long = await cli(env, ['tenants', 'read-only', 'acme', '--reason', 'x'.repeat(201)]);
  t.equal(long.code, 1);
  t.match(long.err, /longer than 200 characters/);
});

t.test('platform single sign-on: each step on the clinic host and the auth host is refused', async (t) => {
  const PUBLIC_PORT = '47803';
  const AUTH = `http://auth.localhost:${PUBLIC_PORT}`;
  const platform = await startOidcProvider({
    clients: [{ client_id: 'sidechart-platform', client_secret: 'platform-secret', redirect_uris: [`${AUTH}/sso/acmeid/callback`] }],
    accounts: { alice: { email: 'alice@acme.example' } },
  });
  t.teardown(() => platform.close());
  const { runtime, env, address } = await buildTestApp(t, {
    listen: true,
    env: {
      ...TEST_AUTH_ENV,
      PUBLIC_PORT,
      PLATFORM_OIDC_PROVIDERS: JSON.stringify([{ id: 'acmeid', name: 'AcmeID', issuer: platform.issuer, clientId: 'sidechart-platform', clientSecret: 'platform-secret' }]),
    },
  });
  const { origin, browser } = proxiedBrowsers(t, PUBLIC_PORT, address!);
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme' });
  t.equal((await cli(env, ['sso', 'configure', 'acme', '--platform-providers', 'acmeid', '--admit', 'domain', '--allowed-domains', 'acme.example'])).code, 0);
  const b = browser();
  // Started before the clinic became read-only: the browser holds a reference to the auth host.
  const toAuthHost = await b.get(`${origin('acme')}/login/sso/acmeid`);
  t.equal(toAuthHost.status, 303);

  await setReadOnly(runtime, 'acme', true);
  for (const url of [toAuthHost.location!, `${origin('acme')}/login/sso/acmeid`, `${origin('acme')}/login/sso/complete?token=abc`]) {
    const page = await b.get(url);
    t.equal(page.status, 503, url);
    t.match(page.body, /Signing in is paused/, url);
  }
});
