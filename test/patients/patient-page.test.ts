// The patient button end to end over real HTTP: Cliniko's button URL -> sign-in -> the patient
// page with the record fetched from the simulator; the next view served from Sidechart alone;
// 64-bit IDs exact in the page and the database; bad IDs; unknown patients; the unconnected clinic;
// escaping; notes.
import t from 'tap';
import { EXAMPLE_ID, MAX_ID, csrfTokenIn, signIn, startPatientApp, textOf, upstreamCalls } from '../helpers/patients.ts';

t.test('button -> sign-in -> patient page; the second view does not call Cliniko', async (t) => {
  const app = await startPatientApp(t);
  const browser = app.newClient();

  // The button in Cliniko: a cross-site top-level GET, not signed in yet.
  const buttonUrl = new URL(app.sim.settings.buttonUrl);
  buttonUrl.searchParams.set('patient_id', EXAMPLE_ID);
  const first = await browser.get(buttonUrl, { crossSite: true, headers: { 'sec-fetch-site': 'cross-site' } });
  t.equal(first.status, 303, 'anonymous: sent to sign in');
  t.equal(first.redirectUrl, `${app.origin}/login`);
  t.equal(upstreamCalls(app.sim, EXAMPLE_ID), 0, 'nothing is fetched for an anonymous visitor');

  const signedIn = await signIn(browser, app.origin, app.user.email);
  t.equal(signedIn.status, 303);
  t.equal(signedIn.redirectUrl, `${app.origin}/patients?patient_id=${EXAMPLE_ID}`, 'straight back to the patient');

  const page = await browser.get(signedIn.redirectUrl!);
  t.equal(page.status, 200);
  t.equal(page.header('cache-control'), 'no-store');
  t.match(page.header('content-security-policy'), /frame-ancestors 'none'/);
  t.match(page.header('content-security-policy'), /script-src 'self'/);
  t.equal(page.header('referrer-policy'), 'no-referrer');
  const text = textOf(page.body);
  for (const expected of [
    'Aroha Ngata-O&#39;Brien',
    'prefers Ro',
    '14 Mar 1987',
    'aroha@example.org',
    'Mobile: 0412 345 678',
    'Home: (03) 9123 4567',
    'Unit 4, 12 Example Street',
    'Fitzroy VIC 3065',
    '2123 45670 1',
    'Main concern',
    'Left shoulder pain after fall &lt;3 weeks&gt;',
    'Dr &quot;Sam&quot; Lee &amp; team',
    'Last synced from Cliniko',
    'Australia/Melbourne',
  ]) {
    t.ok(text.includes(expected), `shows ${expected}`);
  }
  t.match(page.body, /id="age">\d+</, 'the age is shown');
  t.notMatch(page.body, /id="sync-banner"/, 'no banner: the record is current');
  t.equal(upstreamCalls(app.sim, EXAMPLE_ID), 1, 'fetched once from Cliniko');

  const again = await browser.get(signedIn.redirectUrl!, { crossSite: true });
  t.equal(again.status, 200);
  t.ok(textOf(again.body).includes('Aroha Ngata-O&#39;Brien'));
  t.equal(upstreamCalls(app.sim, EXAMPLE_ID), 1, 'the second view is served from Sidechart without calling Cliniko');
  t.equal(app.sim.requestCount(), 1, 'and nothing else was asked of Cliniko');
});

t.test('64-bit IDs round-trip exactly, in the page and in the database', async (t) => {
  const app = await startPatientApp(t);
  for (const id of [EXAMPLE_ID, MAX_ID]) {
    const page = await app.view(id);
    t.equal(page.status, 200, id);
    t.ok(page.body.includes(`<code id="patient-id">${id}</code>`), `${id} shown exactly`);
    t.ok(page.body.includes(`action="/patients/${id}/notes"`), `${id} in the note form`);
    const row = await app.row(id);
    t.equal(row?.cliniko_id, id, `${id} stored exactly`);
    t.equal((row?.data as { id?: unknown }).id, id, `${id} exact in the stored Cliniko JSON`);
    const typed = await app.clinic.db
      .selectFrom('patients')
      .select((eb) => eb.fn<string>('to_char', ['cliniko_id', eb.val('FM9999999999999999999')]).as('text'))
      .where('cliniko_id', '=', id)
      .executeTakeFirst();
    t.equal(typed?.text, id, `${id} is the bigint PostgreSQL holds`);
  }
});

t.test('each bad patient_id form gets a clear 400 page, signed in or not', async (t) => {
  const app = await startPatientApp(t);
  const anonymous = app.newClient();
  const cases: Array<[string, string]> = [
    ['missing', ''],
    ['empty', 'patient_id='],
    ['letters', 'patient_id=abc'],
    ['digits then letters', 'patient_id=12abc'],
    ['negative', 'patient_id=-5'],
    ['zero', 'patient_id=0'],
    ['leading zero', 'patient_id=0836447129235883061'],
    ['too long', `patient_id=${'1'.repeat(25)}`],
    ['above 2^63 - 1', 'patient_id=9223372036854775808'],
    ['repeated', `patient_id=${EXAMPLE_ID}&patient_id=${EXAMPLE_ID}`],
    ['decimal', 'patient_id=1.5'],
    ['exponent', 'patient_id=1e5'],
    ['space', 'patient_id=%201'],
    ['array syntax', 'patient_id[]=1'],
  ];
  for (const [name, query] of cases) {
    for (const [who, http] of [['signed in', app.http], ['anonymous', anonymous]] as const) {
      const res = await http.get(`${app.origin}/patients${query === '' ? '' : `?${query}`}`, { crossSite: true });
      t.equal(res.status, 400, `${name} (${who}): 400`);
      t.equal(res.location, undefined, `${name} (${who}): no redirect`);
      t.match(res.body, /does not name a Cliniko patient \(patient_id /, `${name} (${who}): says why`);
    }
  }
  t.equal(app.sim.requestCount(), 0, 'Cliniko was never asked');
});

t.test('unknown to Sidechart and Cliniko: a clear not-found page', async (t) => {
  const app = await startPatientApp(t);
  const res = await app.view('123456789');
  t.equal(res.status, 404);
  t.match(textOf(res.body), /Neither Sidechart nor Cliniko has a patient with the ID 123456789/);
  t.equal(await app.row('123456789'), undefined, 'nothing stored');
});

t.test('a clinic without a Cliniko connection: the page says how an admin connects it', async (t) => {
  const app = await startPatientApp(t, { connect: false });
  const res = await app.view(EXAMPLE_ID);
  t.equal(res.status, 503);
  t.match(textOf(res.body), /has not connected Sidechart to its Cliniko account/);
  t.match(res.body, /sidechart cliniko connect acme --key-stdin/);
  t.equal(app.sim.requestCount(), 0);
});

t.test('markup and quotes in every field render inert', async (t) => {
  const app = await startPatientApp(t);
  app.sim.addPatient(app.demo.apiKey, {
    id: '4242',
    title: `"><script>alert('title')</script>`,
    first_name: '<script>alert("first")</script>',
    last_name: `O'Hara "Bobby" </title><img src=x onerror=alert(1)>`,
    preferred_first_name: `'><svg onload=alert(2)>`,
    date_of_birth: '2000-02-29',
    sex: '<b onmouseover=alert(3)>x</b>',
    gender_identity: '"\'<script>',
    email: 'bobby+"quotes"@example.org<script>',
    patient_phone_numbers: [{ number: '"><script>alert(4)</script>', phone_type: `Work's "main"<script>` }],
    address_1: '<b>1</b> Example St',
    address_2: '</dd><script>alert(5)</script>',
    city: `Saint-Jean-d'Angély`,
    state: '<script>',
    post_code: '"3000"',
    country_code: '<AU>',
    occupation: '<iframe src=javascript:alert(6)>',
    emergency_contact: '<a href="javascript:alert(7)">x</a>',
    medicare: '<script>alert(8)</script>',
    medicare_reference_number: `'"`,
    time_zone: '<script>',
    custom_fields: { sections: [{ name: '<i>Intake</i><script>', fields: [{ name: '"Concern"<script>', type: 'text', value: '<script>alert(9)</script>' }] }] },
  });
  for (const id of ['4242', MAX_ID]) {
    const res = await app.view(id);
    t.equal(res.status, 200, id);
    t.notMatch(res.body, /<script/i, `${id}: no script element`);
    // The signed-in chrome (our own header, with links) is not patient data: look below it.
    const content = res.body.replace(/<header class="site-header">[\s\S]*?<\/header>/, '');
    t.notMatch(content, /<(img|svg|iframe|b|i|a)[\s>]/i, `${id}: no injected element`);
    t.notMatch(res.body, /<[a-z][^>]*\son[a-z]+\s*=/i, `${id}: no event handler attribute in any tag`);
    t.notMatch(res.body, /<[a-z][^>]*=\s*["']?javascript:/i, `${id}: no javascript: URL in any tag`);
  }
  const page = await app.view('4242');
  t.ok(page.body.includes('&lt;script&gt;alert(&quot;first&quot;)&lt;/script&gt;'), 'the name is shown, escaped');
  t.ok(page.body.includes('O&#39;Hara &quot;Bobby&quot;'), 'quotes escaped');
  t.ok(page.body.includes('Ages and times are in UTC'), 'an invalid time zone falls back to UTC');

  // A note with markup is stored as written and shown inert.
  const posted = await app.http.post(`${app.origin}/patients/4242/notes`, { text: '<script>alert("note")</script> & "quotes"', _csrf: csrfTokenIn(page) });
  t.equal(posted.status, 303);
  const withNote = await app.view('4242');
  t.notMatch(withNote.body, /<script/i);
  t.ok(withNote.body.includes('&lt;script&gt;alert(&quot;note&quot;)&lt;/script&gt; &amp; &quot;quotes&quot;'));
});

t.test('notes: add with CSRF, validated, shown with author and time', async (t) => {
  const app = await startPatientApp(t);
  const page = await app.view(EXAMPLE_ID);
  t.match(page.body, /id="no-notes"/);
  const token = csrfTokenIn(page);
  const url = `${app.origin}/patients/${EXAMPLE_ID}/notes`;

  const added = await app.http.post(url, { text: '  Reviewed shoulder.\r\nImproving.  ', _csrf: token });
  t.equal(added.status, 303);
  t.equal(added.redirectUrl, `${app.origin}/patients?patient_id=${EXAMPLE_ID}`);
  const after = await app.view(EXAMPLE_ID);
  t.match(after.body, /<strong>Sam Carter<\/strong> · <time datetime="[^"]+">/);
  t.ok(after.body.includes('<p class="note-text">Reviewed shoulder.\nImproving.</p>'), 'trimmed, line breaks kept');
  const stored = await app.clinic.db.selectFrom('patient_notes').selectAll().execute();
  t.equal(stored.length, 1);
  t.equal(stored[0]!.patient_id, EXAMPLE_ID);
  t.equal(stored[0]!.author_user_id, app.user.id);

  const bad: Array<[string, Record<string, string>, number, RegExp]> = [
    ['empty', { text: '', _csrf: token }, 422, /The note is empty/],
    ['blank', { text: ' \n\t ', _csrf: token }, 422, /The note is empty/],
    ['missing', { _csrf: token }, 422, /The note is missing/],
    ['too long', { text: 'x'.repeat(5001), _csrf: token }, 422, /5001 characters long; the limit is 5000/],
    ['no CSRF token', { text: 'hello' }, 403, /security token/],
    ['wrong CSRF token', { text: 'hello', _csrf: 'nope' }, 403, /./],
  ];
  for (const [name, body, status, message] of bad) {
    const res = await app.http.post(url, body);
    t.equal(res.status, status, name);
    t.match(res.body, message, `${name}: clear message`);
  }
  const exactlyMax = await app.http.post(url, { text: '😀'.repeat(5000), _csrf: token });
  t.equal(exactlyMax.status, 303, '5000 characters (astral ones count once) are accepted');
  const crossSite = await app.http.post(url, { text: 'hello', _csrf: token }, { headers: { 'sec-fetch-site': 'cross-site' } });
  t.equal(crossSite.status, 403, 'a cross-site POST is refused');
  const unknown = await app.http.post(`${app.origin}/patients/77/notes`, { text: 'hello', _csrf: token });
  t.equal(unknown.status, 404, 'no note on a patient Sidechart does not hold');
  const badId = await app.http.post(`${app.origin}/patients/abc/notes`, { text: 'hello', _csrf: token });
  t.equal(badId.status, 400);
  t.equal((await app.clinic.db.selectFrom('patient_notes').selectAll().execute()).length, 2, 'only the two good notes were stored');
});
