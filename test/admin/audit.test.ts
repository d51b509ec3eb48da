// /admin/audit: each filter narrows the trail as it says, paging walks every event exactly once
// (ties on the same microsecond included), a filter that is not one is a 400 with the problem
// next to its field and the values kept, and every look at the trail is itself in the trail.
import t from 'tap';
import { EXAMPLE_ID, MAX_ID, textOf } from '../helpers/patients.ts';
import { AUDIT_PAGE_SIZE } from '../../src/admin/audit-routes.ts';
import { startAdminApp } from './admin-app.ts';
import { eventIds, olderHref, plant } from './trail.ts';

t.test('each filter: user, patient ID, action, days', async (t) => {
  const app = await startAdminApp(t);
  const db = app.clinic.db;
  const sam = app.user.id;
  const ada = app.adminUser.id;
  const ids = await plant(db, [
    { at: '2026-01-10T08:00:00Z', userId: sam, patientId: EXAMPLE_ID },
    { at: '2026-01-15T00:00:00Z', userId: ada, patientId: MAX_ID },
    { at: '2026-01-20T23:59:59.999999Z', userId: sam, patientId: MAX_ID, action: 'note_added' },
    { at: '2026-01-21T00:00:00Z', userId: sam, patientId: EXAMPLE_ID, action: 'denied' },
  ]);
  const [jan10, jan15, jan20, jan21] = ids;
  const shown = async (query: string) => {
    const page = await app.admin.get(`${app.origin}/admin/audit${query}`);
    t.equal(page.status, 200, `${query}: 200`);
    return eventIds(page.body);
  };
  t.same(await shown(`?user=${sam}`), [jan21, jan20, jan10], 'one user');
  t.same(await shown(`?patient_id=${MAX_ID}`), [jan20, jan15], 'one patient, the 64-bit ID exactly');
  t.same(await shown('?action=denied'), [jan21], 'one action');
  t.same(await shown('?from=2026-01-15&to=2026-01-20'), [jan20, jan15], 'whole UTC days, the last one included to its last microsecond');
  t.same(await shown(`?from=2026-01-16&user=${sam}`), [jan21, jan20], 'a from day alone (these looks at the trail are today’s, by the admin)');
  t.same(await shown('?to=2026-01-14'), [jan10], 'a to day alone');
  t.same(await shown(`?user=${sam}&patient_id=${EXAMPLE_ID}&action=view&from=2026-01-01&to=2026-01-31`), [jan10], 'all together');
  t.same(await shown('?user=&patient_id=&action=view&from=&to='), [jan15, jan10], 'empty fields (the form sent as is) mean any');
  t.same(await shown('?patient_id=1'), [], 'no match: an empty list');
  const none = await app.admin.get(`${app.origin}/admin/audit?patient_id=1`);
  t.match(textOf(none.body), /No event matches these filters/);

  const filtered = await app.admin.get(`${app.origin}/admin/audit?action=denied&from=2026-01-01`);
  t.match(filtered.body, /<option value="denied" selected>/, 'the form shows the filter applied');
  t.match(filtered.body, /<input type="date" id="f-from" name="from" value="2026-01-01">/);
  t.match(filtered.body, /<a href="\/admin\/audit\.csv\?action=denied&amp;from=2026-01-01" download>/, 'the CSV link carries the same filters');
});

t.test('paging walks every event exactly once, newest first', async (t) => {
  const app = await startAdminApp(t);
  // 130 events: 40 on one microsecond (ties broken by id), the rest a microsecond apart within one
  // millisecond (a millisecond cursor would lose them), and a few views through the app.
  const planted: Parameters<typeof plant>[1] = [];
  for (let i = 0; i < 40; i++) planted.push({ at: '2026-02-01T10:00:00.123456Z', patientId: String(1000 + i) });
  for (let i = 0; i < 90; i++) planted.push({ at: `2026-02-01T10:00:00.124${String(i).padStart(3, '0')}Z`, patientId: String(2000 + i) });
  await plant(app.clinic.db, planted);
  for (let i = 0; i < 3; i++) await app.view(EXAMPLE_ID);
  const before = await app.clinic.db.selectFrom('audit_events').select('id').orderBy('occurred_at', 'desc').orderBy('id', 'desc').execute();

  const seen: string[] = [];
  let href: string | null = '/admin/audit';
  let pages = 0;
  while (href !== null && pages < 10) {
    const page = await app.admin.get(`${app.origin}${href}`);
    t.equal(page.status, 200);
    const ids = eventIds(page.body);
    t.ok(ids.length <= AUDIT_PAGE_SIZE, 'at most a page of events');
    seen.push(...ids);
    href = olderHref(page.body);
    pages++;
  }
  // Each look at the trail is recorded, newer than everything: only the first page can show one
  // made before it (none here), so the walk is exactly the trail as it was when it started.
  t.same(seen, before.map((r) => r.id), 'every event once, in order (newest first, ties by id)');
  t.equal(pages, Math.ceil(before.length / AUDIT_PAGE_SIZE), 'no empty page at the end');

  const filteredSeen: string[] = [];
  href = `/admin/audit?action=view&from=2026-02-01&to=2026-02-01`;
  while (href !== null) {
    const page = await app.admin.get(`${app.origin}${href}`);
    filteredSeen.push(...eventIds(page.body));
    href = olderHref(page.body);
    if (href) t.match(href, /action=view&from=2026-02-01&to=2026-02-01&after=/, 'the next page keeps the filters');
  }
  t.equal(filteredSeen.length, 130, 'a filtered walk too');
  t.equal(new Set(filteredSeen).size, 130, 'with no repeats');
});

t.test('a filter that is not one: 400, the problem next to its field, the values kept', async (t) => {
  const app = await startAdminApp(t);
  const cases: Array<[string, string, RegExp]> = [
    ['patient_id=abc', 'patient_id', /The patient ID must be digits only/],
    ['patient_id=0123', 'patient_id', /The patient ID must not start with 0/],
    ['patient_id=9223372036854775808', 'patient_id', /The patient ID is out of range/],
    ['user=abc', 'user', /Choose a user from the list/],
    ['user=99999999999999999999', 'user', /Choose a user from the list/],
    ['user=9999999999999999999', 'user', /Choose a user from the list/],
    ['action=delete_everything', 'action', /Choose an action from the list/],
    ['from=24/11/2026', 'from', /Enter the first day as a date/],
    ['from=2026-02-30', 'from', /2026-02-30 is not a day of the calendar/],
    ['to=2026-13-01', 'to', /2026-13-01 is not a day of the calendar/],
    ['from=2026-03-02&to=2026-03-01', 'to', /The last day is before the first day/],
    ['after=2026-01-01T00:00:00.000000Z_1%27%3Bdrop', 'after', /This page link is damaged/],
    ['after=2026-02-30T00:00:00.000000Z_1', 'after', /This page link is damaged/],
    ['user=1&user=2', 'user', /Choose a user from the list/],
  ];
  for (const [query, field, message] of cases) {
    const page = await app.admin.get(`${app.origin}/admin/audit?${query}`);
    t.equal(page.status, 400, `${query}: 400`);
    t.match(page.body, new RegExp(`<span class="field-error" id="${field}-problem">|<p class="field-error" id="${field}-problem">`), `${query}: next to ${field}`);
    t.match(textOf(page.body), message, `${query}: says what to fix`);
    t.equal(eventIds(page.body).length, 0, `${query}: no events shown`);
    const csv = await app.admin.get(`${app.origin}/admin/audit.csv?${query}`);
    t.equal(csv.status, 400, `${query}: the CSV too`);
    t.match(textOf(csv.body), message, `${query}: the CSV says why`);
    t.notMatch(csv.header('content-type'), /csv/);
  }
  const kept = await app.admin.get(`${app.origin}/admin/audit?patient_id=abc&action=view&from=2026-01-01`);
  t.match(kept.body, /name="patient_id" inputmode="numeric" value="abc"[^>]*aria-invalid="true" aria-describedby="patient_id-problem"/, 'the value as typed, marked invalid');
  t.match(kept.body, /<option value="view" selected>/, 'the other values kept');
  t.match(kept.body, /value="2026-01-01"/);
  const looks = await app.clinic.db.selectFrom('audit_events').select('id').where('action', 'in', ['audit_viewed', 'audit_exported']).execute();
  t.same(looks, [], 'nothing was shown, so no look at the trail is recorded');
});

t.test('every look at the trail is in the trail', async (t) => {
  const app = await startAdminApp(t);
  await app.admin.get(`${app.origin}/admin/audit`, { headers: { 'user-agent': 'Admin Browser' } });
  await app.admin.get(`${app.origin}/admin/audit?patient_id=${EXAMPLE_ID}&action=view`);
  await app.admin.get(`${app.origin}/admin/audit.csv?from=2026-01-01`);
  const events = await app.clinic.db.selectFrom('audit_events').select(['action', 'outcome', 'user_id', 'patient_id', 'detail', 'user_agent']).orderBy('id').execute();
  t.same(events, [
    { action: 'audit_viewed', outcome: 'ok', user_id: app.adminUser.id, patient_id: null, detail: 'all events', user_agent: 'Admin Browser' },
    { action: 'audit_viewed', outcome: 'ok', user_id: app.adminUser.id, patient_id: null, detail: `patient_id=${EXAMPLE_ID}&action=view`, user_agent: null },
    { action: 'audit_exported', outcome: 'ok', user_id: app.adminUser.id, patient_id: null, detail: 'from=2026-01-01', user_agent: null },
  ]);
  const page = await app.admin.get(`${app.origin}/admin/audit?action=audit_exported`);
  t.match(textOf(page.body), /Audit trail exported/, 'and can be filtered on');
});
