// /admin/cliniko: connect, replace and disconnect the clinic's Cliniko API key from the browser,
// each refusal explained next to the field (a malformed key, a key Cliniko refuses on its shard,
// Cliniko not answering), the key never echoed back, every change an audit event, admins only.
import t from 'tap';
import { csrfTokenIn, textOf } from '../helpers/patients.ts';
import { startAdminApp } from './admin-app.ts';

const KEY_FIELD = /<input type="password" id="api-key" name="api_key"/;

t.test('connect from the admin page: refusals explained, then connected, replaced and disconnected', async (t) => {
  const app = await startAdminApp(t, { connect: false });
  const url = `${app.origin}/admin/cliniko`;
  const page = await app.admin.get(url);
  t.equal(page.status, 200);
  t.match(page.body, /id="cliniko-not-connected"/, 'says the clinic is not connected');
  t.match(page.body, KEY_FIELD, 'a password-type field, so the key is not shown on screen');
  t.match(page.body, /<label for="api-key">Cliniko API key<\/label>/);
  const token = csrfTokenIn(page);

  const wrongKey = 'sim0wrong9f1c9a7e2b5d8c3a6f0e9d2b7c4a1e8f5d3b6-au1';
  const refused: [string, string, number, RegExp][] = [
    ['empty', '   ', 422, /Paste the API key/],
    ['no shard suffix', 'abcdef', 422, /./],
    ['a key Cliniko refuses', wrongKey, 422, /Cliniko refused this API key at api\.au1\.cliniko\.localhost.*shard au1/],
    ['the right key on another shard', app.demo.apiKey.replace(/-au1$/, '-uk2'), 422, /shard uk2/],
    ['far too long', `${'x'.repeat(300)}-au1`, 422, /characters long/],
  ];
  for (const [what, key, status, message] of refused) {
    const res = await app.admin.post(url, { api_key: key, _csrf: token });
    t.equal(res.status, status, `${what}: ${status}`);
    t.match(textOf(res.body), message, `${what}: explained`);
    t.match(res.body, /aria-describedby="api-key-error"/, `${what}: the message is tied to the field`);
    if (key.trim() !== '') t.notOk(res.body.includes(key.trim()), `${what}: the key is not echoed back`);
  }

  // Cliniko down: its own explanation, nothing stored.
  app.sim.faults.global = { status: 503 };
  const down = await app.admin.post(url, { api_key: app.demo.apiKey, _csrf: token });
  t.equal(down.status, 502, 'Cliniko not answering: 502');
  t.match(textOf(down.body), /Could not verify the key with Cliniko/);
  t.notOk(down.body.includes(app.demo.apiKey), 'the key is not echoed back');
  app.sim.faults.global = null;
  t.match((await app.admin.get(url)).body, /id="cliniko-not-connected"/, 'still not connected after the refusals');

  const connected = await app.admin.post(url, { api_key: ` ${app.demo.apiKey} `, _csrf: token });
  t.equal(connected.status, 303);
  t.equal(connected.location, '/admin/cliniko?done=connected');
  const shown = await app.admin.get(`${app.origin}${connected.location}`);
  t.match(textOf(shown.body), /Connected\. The button now opens patients/);
  t.match(textOf(shown.body), /fitzroy-physio\.cliniko\.com/, 'the connected account');
  t.match(textOf(shown.body), /Shard au1/);
  t.match(textOf(shown.body), /by ada@acme\.example/, 'who connected it');
  t.notOk(shown.body.includes(app.demo.apiKey), 'the key is never shown');
  const stored = await app.clinic.db.selectFrom('cliniko_connection').select('api_key_sealed').executeTakeFirstOrThrow();
  t.notOk(JSON.stringify(stored).includes(app.demo.apiKey), 'stored sealed, not in the clear');
  t.equal((await app.view('836447129235883061')).status, 200, 'and the button now opens a patient');

  // Replacing with a bad key keeps the working connection.
  const badReplace = await app.admin.post(url, { api_key: wrongKey, _csrf: token });
  t.equal(badReplace.status, 422);
  t.match(textOf(badReplace.body), /Replace the API key/);
  t.match(textOf(badReplace.body), /fitzroy-physio/, 'the existing connection is still shown, and kept');

  const out = await app.admin.post(`${url}/disconnect`, { _csrf: token });
  t.equal(out.status, 303);
  t.match((await app.admin.get(url)).body, /id="cliniko-not-connected"/);

  const events = await app.clinic.db.selectFrom('audit_events').select(['action', 'outcome', 'user_id', 'detail']).where('action', 'in', ['cliniko_connected', 'cliniko_disconnected']).orderBy('id').execute();
  t.same(events.map((e) => [e.action, e.user_id]), [['cliniko_connected', app.adminUser.id], ['cliniko_disconnected', app.adminUser.id]], 'each change is an audit event naming the admin; refusals change nothing and record no change');
  t.match(events[0]!.detail, /shard au1/);
  t.notOk(JSON.stringify(events).includes(app.demo.apiKey), 'the key is not in the trail');
});

t.test('admins only, and every POST needs its token', async (t) => {
  const app = await startAdminApp(t, { connect: false });
  const url = `${app.origin}/admin/cliniko`;
  const staff = await app.http.get(url);
  t.equal(staff.status, 403, 'staff: 403 page');
  // With a valid token of their own (the sign-out form on every page carries one).
  const staffToken = csrfTokenIn(await app.http.get(`${app.origin}/`));
  const staffPost = await app.http.post(url, { api_key: app.demo.apiKey, _csrf: staffToken });
  t.equal(staffPost.status, 403, 'staff POST with a valid token: still refused (admins only)');
  const anonymous = app.newClient();
  const redirect = await anonymous.get(url);
  t.equal(redirect.status, 303);
  t.equal(redirect.location, '/login', 'anonymous: to sign-in, and back here afterwards');
  t.equal((await app.admin.post(url, { api_key: app.demo.apiKey })).status, 403, 'no CSRF token: 403');
  t.equal((await app.admin.post(url, { api_key: app.demo.apiKey, _csrf: 'made-up' })).status, 403, 'a made-up token: 403');
  t.equal((await app.admin.post(`${url}/disconnect`, {})).status, 403, 'disconnect without a token: 403');
  t.equal(await app.clinic.db.selectFrom('cliniko_connection').select('id').executeTakeFirst(), undefined, 'nothing was connected');
});
