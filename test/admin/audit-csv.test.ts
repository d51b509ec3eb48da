// /admin/audit.csv: a download (attachment, never cached) streamed as CSV with a header row,
// commas, quotes and line breaks quoted, cells that a spreadsheet would run as a formula made
// text, the page's filters applied, every event exactly once however many batches it takes, and
// never a row of another clinic.
import t from 'tap';
import { addUser, signInWithPassword } from '../helpers/fixtures.ts';
import { EXAMPLE_ID, MAX_ID } from '../helpers/patients.ts';
import { CSV_BATCH, CSV_COLUMNS } from '../../src/admin/audit-csv.ts';
import { startAdminApp } from './admin-app.ts';
import { parseCsv, plant } from './trail.ts';

const HEADER = CSV_COLUMNS.map((c) => c.header);

t.test('a streamed attachment with a header row and the events, newest first', async (t) => {
  const app = await startAdminApp(t);
  await app.http.get(`${app.origin}/patients?patient_id=${EXAMPLE_ID}`, {
    crossSite: true,
    headers: { 'sec-fetch-site': 'cross-site', 'user-agent': 'Mozilla/5.0 (X11; Linux) "quoted", with commas', referer: 'https://acme.au1.cliniko.com/patients/1' },
  });
  // A header cannot carry a line break; a detail can.
  await plant(app.clinic.db, [{ at: '2026-01-01T00:00:00Z', detail: 'first line\r\nsecond, "line"' }]);
  const res = await app.admin.get(`${app.origin}/admin/audit.csv`);
  t.equal(res.status, 200);
  t.equal(res.header('content-type'), 'text/csv; charset=utf-8');
  t.match(res.header('content-disposition'), /^attachment; filename="acme-audit-\d{4}-\d{2}-\d{2}\.csv"$/);
  t.equal(res.header('cache-control'), 'no-store');
  t.equal(res.header('transfer-encoding'), 'chunked', 'streamed, not buffered to a length first');
  t.equal(res.header('content-length'), undefined);
  // The client decodes UTF-8 and drops the mark; the bytes on the wire have it.
  const raw = await app.app.inject({ url: '/admin/audit.csv', headers: { host: `acme.localhost:${app.port}`, cookie: app.admin.cookieHeader(app.origin) } });
  t.same([...raw.rawPayload.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'a byte-order mark, so spreadsheets read UTF-8');
  t.match(res.body, /\r\n/, 'CRLF between records (RFC 4180)');

  const rows = parseCsv(res.body);
  t.same(rows[0], HEADER, 'the header row');
  t.equal(rows.length, 3, 'two events (this export is recorded after it is read)');
  const record = Object.fromEntries(HEADER.map((h, i) => [h, rows[1]![i]]));
  t.equal(record.action, 'view');
  t.equal(record.user_id, app.user.id);
  t.equal(record.user_email, 'sam@acme.example');
  t.equal(record.patient_id, EXAMPLE_ID, 'the 64-bit ID exactly');
  t.match(record.occurred_at_utc, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
  t.equal(record.user_agent, 'Mozilla/5.0 (X11; Linux) "quoted", with commas', 'quotes and commas survive');
  t.match(res.body, /,"Mozilla\/5\.0 \(X11; Linux\) ""quoted"", with commas",/, 'by RFC 4180 quoting');
  t.equal(rows[2]![HEADER.indexOf('detail')], 'first line\r\nsecond, "line"', 'a line break inside a cell survives');
  t.match(res.body, /,"first line\r\nsecond, ""line""",/, 'quoted with it');
  t.equal(record.referrer, 'https://acme.au1.cliniko.com/patients/1');
});

t.test('formula injection: cells starting with = + - @ tab or CR are text', async (t) => {
  const app = await startAdminApp(t);
  const planted = ['=HYPERLINK("http://evil.example","click")', '+1+cmd|\' /C calc\'!A0', '-2+3', '@SUM(A1:A2)', '\t=1+1', '\r=1+1', 'ordinary'];
  // One through a real view (the user agent is what a visitor controls), the rest planted directly.
  await app.http.get(`${app.origin}/patients?patient_id=${EXAMPLE_ID}`, { headers: { 'user-agent': planted[0]! } });
  await plant(app.clinic.db, planted.slice(1).map((ua, i) => ({ at: `2026-03-01T00:00:0${i}Z`, userAgent: ua, detail: ua, referrer: ua })));
  const rows = parseCsv((await app.admin.get(`${app.origin}/admin/audit.csv`)).body);
  const ua = HEADER.indexOf('user_agent');
  const got = rows.slice(1).map((r) => r[ua]);
  t.same(new Set(got), new Set([...planted.slice(0, 6).map((v) => `'${v}`), 'ordinary']), 'each dangerous cell prefixed with a quote, the ordinary one untouched');
  // The planted rows (older than the view) carry the same text as detail and referrer.
  for (const column of ['detail', 'referrer'] as const) {
    const i = HEADER.indexOf(column);
    t.same(rows.slice(2).map((r) => r[i]), rows.slice(2).map((r) => r[ua]), `${column} neutralised too`);
  }
  t.ok(rows.slice(1).every((r) => r[HEADER.indexOf('patient_id')] === '' || /^[0-9]+$/.test(r[HEADER.indexOf('patient_id')]!)), 'IDs are left as they are');
});

t.test('the filters apply; every event exactly once across many batches', async (t) => {
  const app = await startAdminApp(t);
  const total = CSV_BATCH * 2 + 37;
  const planted = Array.from({ length: total }, (_, i) => ({
    // Groups of 7 on one microsecond: the batches' keyset must break the ties.
    at: `2026-04-01T09:00:00.${String(Math.floor(i / 7)).padStart(6, '0')}Z`,
    patientId: i % 2 === 0 ? EXAMPLE_ID : MAX_ID,
  }));
  const ids = await plant(app.clinic.db, planted);
  const all = parseCsv((await app.admin.get(`${app.origin}/admin/audit.csv?from=2026-04-01&to=2026-04-01`)).body).slice(1);
  const idAt = HEADER.indexOf('event_id');
  t.equal(all.length, total, 'every event');
  t.equal(new Set(all.map((r) => r[idAt])).size, total, 'none twice');
  t.same(new Set(all.map((r) => r[idAt])), new Set(ids));
  const times = all.map((r) => `${r[0]} ${r[idAt]!.padStart(20, '0')}`);
  t.same(times, [...times].sort().reverse(), 'newest first, ties by id');

  const one = parseCsv((await app.admin.get(`${app.origin}/admin/audit.csv?patient_id=${MAX_ID}&action=view`)).body).slice(1);
  t.equal(one.length, Math.floor(total / 2), 'one patient');
  t.ok(one.every((r) => r[HEADER.indexOf('patient_id')] === MAX_ID));
  const none = parseCsv((await app.admin.get(`${app.origin}/admin/audit.csv?to=2026-03-31`)).body);
  t.same(none, [HEADER], 'no match: the header row alone');
  const exported = parseCsv((await app.admin.get(`${app.origin}/admin/audit.csv?action=audit_exported`)).body).slice(1);
  t.equal(exported.length, 3, 'the earlier exports are in the trail');
});

t.test('another clinic’s events never appear', async (t) => {
  const app = await startAdminApp(t);
  await app.runtime.tenants.create({ slug: 'other', displayName: 'Other Clinic' });
  const otherDb = await app.runtime.clinics.open('other', { for: 'operator' }).then((c) => c.db);
  await addUser(app.runtime, 'other', { email: 'root@other.example', role: 'admin' });
  await plant(otherDb, [{ at: '2026-05-01T00:00:00Z', patientId: EXAMPLE_ID, userAgent: 'OTHER-CLINIC-AGENT' }]);
  await app.view(EXAMPLE_ID);

  const ours = await app.admin.get(`${app.origin}/admin/audit.csv`);
  t.notMatch(ours.body, /OTHER-CLINIC-AGENT|other\.example/, 'not in our export');
  t.equal(parseCsv(ours.body).length, 2, 'only our one view');
  const page = await app.admin.get(`${app.origin}/admin/audit?patient_id=${EXAMPLE_ID}`);
  t.notMatch(page.body, /OTHER-CLINIC-AGENT/, 'nor on our page');

  const otherOrigin = `http://other.localhost:${app.port}`;
  const theirs = app.newClient();
  t.equal((await signInWithPassword(theirs, otherOrigin, 'root@other.example')).status, 303);
  const theirCsv = await theirs.get(`${otherOrigin}/admin/audit.csv`);
  t.match(theirCsv.body, /OTHER-CLINIC-AGENT/);
  t.notMatch(theirCsv.body, /sam@acme\.example|ada@acme\.example/, 'and ours not in theirs');
  t.equal((await theirs.get(`${app.origin}/admin/audit.csv`, { headers: { cookie: theirs.cookieHeader(otherOrigin) } })).status, 303, 'their session is nobody here');
});
