// The clinic home for a signed-in user: the patients they and the clinic opened recently (from the
// audit trail, distinct, newest first, never another clinic's), and a search over the patients
// Sidechart holds by name or Cliniko ID, bounded and escaped. Anonymous visitors keep the plain page.
import t from 'tap';
import { recordAudit } from '../../src/patients/audit.ts';
import { DEMO_PATIENT_IDS } from '../../src/cliniko/simulator/demo-data.ts';
import { containsPattern, openedAgo, parseSearch, SEARCH_LIMIT, SEARCH_MAX_CHARS } from '../../src/patients/recent.ts';
import { addUser, openClinic, sessionRows } from '../helpers/fixtures.ts';
import { signIn, startPatientApp, textOf, type PatientTestApp } from '../helpers/patients.ts';

const { example, archived, survivor, tricky } = DEMO_PATIENT_IDS;

/** The patient IDs a list on the page links to, in order. */
function linkedIds(html: string, listId: string): string[] {
  const list = new RegExp(`<ul class="patient-list" id="${listId}">([\\s\\S]*?)</ul>`).exec(html)?.[1] ?? '';
  return [...list.matchAll(/href="\/patients\?patient_id=(\d+)"/g)].map((m) => m[1]!);
}

function resultIds(html: string): string[] {
  const list = /<ul class="patient-list" aria-labelledby="results-heading">([\s\S]*?)<\/ul>/.exec(html)?.[1] ?? '';
  return [...list.matchAll(/href="\/patients\?patient_id=(\d+)"/g)].map((m) => m[1]!);
}

const search = (app: PatientTestApp, q: string) => app.http.get(`${app.origin}/?q=${encodeURIComponent(q)}`);

t.test('parseSearch, containsPattern and openedAgo (pure)', async (t) => {
  t.same(parseSearch(undefined), { kind: 'none' });
  t.same(parseSearch('  \t '), { kind: 'none' });
  t.same(parseSearch(' Aroha   Ngata '), { kind: 'search', text: 'Aroha Ngata', words: ['Aroha', 'Ngata'], id: null });
  t.same(parseSearch(example), { kind: 'search', text: example, words: [example], id: example });
  t.equal((parseSearch('99999999999999999999') as { id: string | null }).id, null, 'past 2^63-1: not an ID');
  t.equal((parseSearch('a\u0000b\u200Bc') as { text: string }).text, 'a b c', 'control and format characters dropped');
  t.equal((parseSearch('Zoe\u0308') as { text: string }).text, 'Zo\u00eb', 'NFC');
  const long = parseSearch('é'.repeat(SEARCH_MAX_CHARS + 1));
  t.equal(long.kind, 'invalid');
  t.equal((long as { text: string }).text, 'é'.repeat(SEARCH_MAX_CHARS), 'echoed cut to the limit');
  t.equal(parseSearch('a b c d e f').kind, 'invalid', 'too many words');
  t.equal(containsPattern('50%_a\\b'), '%50\\%\\_a\\\\b%');
  const now = new Date('2026-12-02T10:00:00Z');
  t.equal(openedAgo(new Date('2026-12-02T09:59:30Z'), now), 'just now');
  t.equal(openedAgo(new Date('2026-12-02T09:55:00Z'), now), '5 min ago');
  t.equal(openedAgo(new Date('2026-12-02T07:00:00Z'), now), '3 h ago');
  t.equal(openedAgo(new Date('2026-12-01T09:00:00Z'), now), 'yesterday');
  t.equal(openedAgo(new Date('2026-11-01T09:00:00Z'), now), '2026-11-01');
});

t.test('recent lists: mine and the clinic\'s, distinct, newest first, never another clinic\'s', async (t) => {
  const app = await startPatientApp(t);
  const admin = await addUser(app.runtime, app.slug, { email: 'jo@acme.example', name: 'Jo Admin', role: 'admin' });
  const adminBrowser = app.newClient();
  await signIn(adminBrowser, app.origin, admin.email);

  // Another clinic, the same patient ID under another name, viewed by a user with the same ID.
  await app.runtime.tenants.create({ slug: 'other', displayName: 'Other Clinic' });
  const other = await openClinic(app.runtime, 'other');
  await other.db.insertInto('patients').values([{ cliniko_id: example, first_name: 'Imposter', last_name: 'Elsewhere' }, { cliniko_id: '42', first_name: 'Only', last_name: 'Otherclinic' }]).execute();
  const origin = { clientIp: null, userAgent: null, secFetchSite: null, referrer: null, requestId: null };
  for (const patientId of [example, '42']) await recordAudit(other.db, { action: 'view', outcome: 'shown', userId: app.user.id, patientId, origin });

  const empty = await app.http.get(`${app.origin}/`);
  t.equal(empty.status, 200);
  t.equal(empty.header('cache-control'), 'no-store', 'patient names are never cached');
  t.ok(textOf(empty.body).includes('Patients you open will be listed here.'), 'nothing opened yet');
  t.ok(textOf(empty.body).includes('No patient has been opened here yet.'));

  for (const id of [example, archived, example]) t.equal((await app.view(id)).status, 200, `staff opens ${id}`);
  t.equal((await adminBrowser.get(`${app.origin}/patients?patient_id=${survivor}`)).status, 200, 'the admin opens another');
  // A refused attempt is no "opened" patient.
  await recordAudit(app.clinic.db, { action: 'denied', outcome: 'not_found', userId: app.user.id, patientId: tricky, origin });

  const home = await app.http.get(`${app.origin}/`);
  t.same(linkedIds(home.body, 'recent-mine'), [example, archived], 'mine: distinct, newest first');
  t.same(linkedIds(home.body, 'recent-clinic'), [survivor, example, archived], 'the clinic: everyone\'s');
  const text = textOf(home.body);
  t.ok(text.includes('Aroha (Ro) Ngata-O&#39;Brien'), 'named from the patients table');
  t.ok(text.includes('Archie Vaughan'));
  t.ok(text.includes('just now'));
  for (const foreign of ['Imposter', 'Otherclinic', 'patient_id=42"']) t.notOk(home.body.includes(foreign), `nothing of the other clinic: ${foreign}`);

  const adminHome = await adminBrowser.get(`${app.origin}/`);
  t.same(linkedIds(adminHome.body, 'recent-mine'), [survivor], 'the admin\'s own list');
  t.same(linkedIds(adminHome.body, 'recent-clinic'), [survivor, example, archived]);
});

t.test('search by name and by Cliniko ID; wildcards are literal; results are bounded', async (t) => {
  const app = await startPatientApp(t);
  for (const id of [example, archived, tricky]) await app.view(id);
  await app.clinic.db
    .insertInto('patients')
    .values([
      { cliniko_id: '7001', first_name: 'Zoë', last_name: 'Ōtaki' },
      { cliniko_id: '7002', first_name: '100%', last_name: 'Percent' },
      ...Array.from({ length: SEARCH_LIMIT + 5 }, (_, i) => ({ cliniko_id: String(8000 + i), first_name: `Bulk${String(i).padStart(2, '0')}`, last_name: 'Patient' })),
    ])
    .execute();

  t.same(resultIds((await search(app, 'aroha')).body), [example], 'first name, any case');
  t.same(resultIds((await search(app, 'ngata ro')).body), [example], 'every word, across the name columns (preferred name too)');
  t.same(resultIds((await search(app, 'vaug')).body), [archived], 'part of a last name');
  const byId = await search(app, example);
  t.same(resultIds(byId.body), [example], 'by Cliniko ID');
  t.ok(byId.body.includes(`href="/patients?patient_id=${example}"`), 'linking to the patient page');
  t.same(resultIds((await search(app, tricky)).body), [tricky], 'the largest 64-bit ID, exact');
  t.same(resultIds((await search(app, 'zoë')).body), ['7001'], 'unicode');
  t.same(resultIds((await search(app, 'Zoe\u0308')).body), ['7001'], 'unicode in another normal form');
  t.same(resultIds((await search(app, '%')).body), ['7002'], '% is a character, not a wildcard');
  t.same(resultIds((await search(app, '_')).body), [], '_ too');
  const none = await search(app, 'nobody-called-this');
  t.same(resultIds(none.body), []);
  t.ok(textOf(none.body).includes('No patient held by Sidechart matches'));

  const bulk = await search(app, 'bulk patient');
  t.equal(resultIds(bulk.body).length, SEARCH_LIMIT, `at most ${SEARCH_LIMIT} results`);
  t.ok(textOf(bulk.body).includes(`Showing the first ${SEARCH_LIMIT}`), 'and says there are more');
  t.match(bulk.body, /<label for="q">Name or Cliniko ID<\/label>/, 'the field is labelled');
  t.match(bulk.body, /<input type="search" id="q" name="q" value="bulk patient"/, 'keeps what was typed');
});

t.test('hostile queries: markup, huge, unicode, control characters, out-of-range IDs', async (t) => {
  const app = await startPatientApp(t);
  await app.view(tricky);

  const markup = await search(app, '"><script>alert(1)</script>');
  t.equal(markup.status, 200);
  t.notOk(markup.body.includes('<script>'), 'no markup from the query');
  t.ok(markup.body.includes('value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"'), 'echoed escaped in the field');

  const trickyName = await search(app, 'hara');
  t.same(resultIds(trickyName.body), [tricky], 'a name full of markup is found');
  t.notOk(/<img src=x|<svg|<script>alert/.test(trickyName.body), 'and shown as text');
  t.ok(trickyName.body.includes('&lt;script&gt;alert(&quot;first&quot;)&lt;/script&gt;'));

  const long = await search(app, 'x'.repeat(SEARCH_MAX_CHARS + 50));
  t.equal(long.status, 200);
  t.ok(textOf(long.body).includes(`Search for at most ${SEARCH_MAX_CHARS} characters.`), 'told next to the field');
  t.match(long.body, /aria-invalid="true" aria-describedby="q-problem"/);
  t.notOk(long.body.includes('x'.repeat(SEARCH_MAX_CHARS + 1)), 'the echo is bounded');

  const huge = await search(app, 'y'.repeat(10_000));
  t.equal(huge.status, 400, 'a huge query is refused at the boundary');
  t.notOk(huge.body.includes('y'.repeat(200)), 'and not echoed');

  for (const q of ['\u0000\u0001',  'Ngāti 🦘 \u202e', '99999999999999999999', '-1', "' or 1=1 --", 'a'.repeat(SEARCH_MAX_CHARS)]) {
    const page = await search(app, q);
    t.equal(page.status, 200, `answered: ${JSON.stringify(q.slice(0, 20))}`);
  }
  // A lone surrogate (as UTF-8, which is invalid) and broken percent-encoding.
  for (const raw of ['%ED%A0%80', '%FF%FE', '%E0%A4%A']) t.ok((await app.http.get(`${app.origin}/?q=${raw}`)).status < 500, `no 500 for ${raw}`);
  const twice = await app.http.get(`${app.origin}/?q=a&q=b`);
  t.ok(twice.status < 500, 'a repeated parameter is no 500');
});

t.test('anonymous visitors: the plain home, no lists, no search, nothing stored', async (t) => {
  const app = await startPatientApp(t);
  await app.view(example);
  const browser = app.newClient();
  const page = await browser.get(`${app.origin}/?q=aroha`);
  t.equal(page.status, 200);
  t.ok(textOf(page.body).includes('Open a patient from Cliniko with the Open in Sidechart button.'));
  for (const hidden of ['Aroha', 'Find a patient', 'opened recently', 'name="q"']) t.notOk(page.body.includes(hidden), `no ${hidden}`);
  t.same(page.setCookie, [], 'no cookie');
  t.equal((await sessionRows(app.runtime, app.slug)).length, 1, 'no session row for the visitor');
});
