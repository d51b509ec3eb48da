// Every POST needs a CSRF token made for this browser and this session (or, before sign-in, for
// an anonymous visitor of this clinic), and browsers' Sec-Fetch-Site must not say the request came
// from another site (sibling clinics are same-site). The token's secret is a signed cookie: the
// sign-in form stores nothing (issue 10, finding 2).
import t from 'tap';
import { PASSWORD, addUser, client, csrfTokenIn, sessionRows, startAuthApp, startHttpsClinic } from '../helpers/fixtures.ts';

t.test('sign-in form: token missing, wrong, from another browser, or cross-site', async (t) => {
  const { runtime, origin } = await startAuthApp(t);
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await runtime.tenants.create({ slug: 'sibling', displayName: 'Sibling' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  const acme = origin('acme');
  const form = { email: 'jo@acme.example', password: PASSWORD };

  const http = client({}, t);
  const page = await http.get(`${acme}/login`);
  const token = csrfTokenIn(page);
  const other = client({}, t);
  const otherToken = csrfTokenIn(await other.get(`${acme}/login`));

  const refused: [string, Parameters<typeof http.post>[1], Record<string, string>, RegExp][] = [
    ['no token', form, {}, /missing its security token/],
    ['empty token', { ...form, _csrf: '' }, {}, /missing its security token/],
    ['made-up token', { ...form, _csrf: 'abc-123' }, {}, /Invalid csrf token/i],
    ["another browser's token", { ...form, _csrf: otherToken }, {}, /Invalid csrf token/i],
    ['cross-site', { ...form, _csrf: token }, { 'sec-fetch-site': 'cross-site' }, /another site/],
    ['a sibling clinic (same-site)', { ...form, _csrf: token }, { 'sec-fetch-site': 'same-site', origin: origin('sibling') }, /another site/],
  ];
  for (const [what, body, headers, message] of refused) {
    const res = await http.post(`${acme}/login`, body, { headers });
    t.equal(res.status, 403, what);
    t.match(res.body, message, what);
    t.equal((await http.get(`${acme}/__test/whoami`)).status, 303, `${what}: not signed in`);
  }

  // No session at all (cookie-less forged form): refused, and nothing stored for it.
  const stranger = client({}, t);
  const noSession = await stranger.post(`${acme}/login`, { ...form, _csrf: token });
  t.equal(noSession.status, 403);
  t.match(noSession.body, /This form has expired/);

  // The real thing, same-origin or from a browser that sends no Sec-Fetch-Site at all.
  const ok = await http.post(`${acme}/login`, { ...form, _csrf: token }, { headers: { 'sec-fetch-site': 'same-origin' } });
  t.equal(ok.status, 303);
});

t.test('POSTs on pages that need a user: the same checks, then 401 when anonymous', async (t) => {
  const { runtime, origin } = await startAuthApp(t);
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  const acme = origin('acme');

  const anonymous = client({}, t);
  const token = csrfTokenIn(await anonymous.get(`${acme}/login`));
  const unsigned = await anonymous.post(`${acme}/__test/whoami`, { _csrf: token });
  t.equal(unsigned.status, 401, 'valid token, no user: 401');
  t.match(unsigned.body, /not signed in/);
  t.equal((await anonymous.post(`${acme}/__test/whoami`, {})).status, 403, 'no token: 403 first');

  const http = client({}, t);
  const page = await http.get(`${acme}/login`);
  await http.post(`${acme}/login`, { email: 'jo@acme.example', password: PASSWORD, _csrf: csrfTokenIn(page) });
  const { token: fresh } = (await http.get(`${acme}/__test/csrf`)).json() as { token: string };
  t.equal((await http.post(`${acme}/__test/whoami`, { _csrf: fresh })).status, 200);
  t.equal((await http.post(`${acme}/__test/whoami`, {}, { headers: { 'x-csrf-token': fresh } })).status, 200, 'header form');
  t.equal((await http.post(`${acme}/__test/whoami`, { _csrf: token })).status, 403, 'the pre-login token died with the pre-login session');
  t.equal((await http.post(`${acme}/__test/whoami`, { _csrf: fresh }, { headers: { 'sec-fetch-site': 'cross-site' } })).status, 403);
});

t.test('the sign-in form stores nothing: its secret is a signed, host-only cookie', async (t) => {
  const { runtime, origin } = await startAuthApp(t);
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await runtime.tenants.create({ slug: 'sibling', displayName: 'Sibling' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  const acme = origin('acme');

  const http = client({}, t);
  const pages = await Promise.all(Array.from({ length: 20 }, () => client({}, t).get(`${acme}/login`)));
  t.ok(pages.every((p) => p.status === 200 && csrfTokenIn(p)), '20 visitors see the form with a token');
  t.equal((await sessionRows(runtime, 'acme')).length, 0, 'and no session row was written for any of them');
  const page = await http.get(`${acme}/login`);
  t.equal(page.setCookie.length, 1, 'one cookie: the CSRF secret, no session cookie');
  const line = page.setCookie[0]!;
  t.match(line, /^sidechart-csrf=/, 'named sidechart-csrf over plain HTTP');
  t.match(line, /HttpOnly/i);
  t.match(line, /SameSite=Lax/i);
  t.match(line, /Path=\//);
  t.notMatch(line, /Domain=/i, 'host-only');
  const again = await http.get(`${acme}/login`);
  t.same(again.setCookie, [], 'the secret is kept: a second visit sets nothing');

  // The cookie is signed: a secret the browser made up (or altered) is no secret.
  const forged = client({}, t);
  const forgedPage = await forged.get(`${acme}/login`);
  const stored = forged.cookies('acme.localhost').find((c) => c.name === 'sidechart-csrf')!;
  forged.setCookie(acme, `sidechart-csrf=${stored.value.replace(/^./, (c) => (c === 'a' ? 'b' : 'a'))}; Path=/; HttpOnly`);
  const tampered = await forged.post(`${acme}/login`, { email: 'jo@acme.example', password: PASSWORD, _csrf: csrfTokenIn(forgedPage) });
  t.equal(tampered.status, 403, 'altered secret cookie: refused');
  t.match(tampered.body, /This form has expired/);

  // Bound to the clinic: acme's cookie and token carried to the sibling's host are refused there.
  const carried = client({}, t);
  const sibling = origin('sibling');
  carried.setCookie(sibling, `sidechart-csrf=${http.cookies('acme.localhost').find((c) => c.name === 'sidechart-csrf')!.value}; Path=/; HttpOnly`);
  const crossClinic = await carried.post(`${sibling}/login`, { email: 'jo@acme.example', password: PASSWORD, _csrf: csrfTokenIn(page) });
  t.equal(crossClinic.status, 403, "another clinic's form token: refused");

  // Signing in is what writes the session row.
  const signedIn = await http.post(`${acme}/login`, { email: 'jo@acme.example', password: PASSWORD, _csrf: csrfTokenIn(page) });
  t.equal(signedIn.status, 303);
  t.equal((await sessionRows(runtime, 'acme')).length, 1, 'one row, for the session that signed in');
});

t.test("a signed-in session's token dies with the session", async (t) => {
  const { runtime, origin } = await startAuthApp(t);
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  const acme = origin('acme');
  const http = client({}, t);
  await http.post(`${acme}/login`, { email: 'jo@acme.example', password: PASSWORD, _csrf: csrfTokenIn(await http.get(`${acme}/login`)) });
  const { token } = (await http.get(`${acme}/__test/csrf`)).json() as { token: string };
  t.equal((await http.post(`${acme}/logout`, { _csrf: token })).status, 303, 'signed out with it');

  // Signed in again in the same browser (same secret cookie): the old session's token is dead.
  await http.post(`${acme}/login`, { email: 'jo@acme.example', password: PASSWORD, _csrf: csrfTokenIn(await http.get(`${acme}/login`)) });
  const stale = await http.post(`${acme}/__test/whoami`, { _csrf: token });
  t.equal(stale.status, 403, "the ended session's token is refused");
  const { token: fresh } = (await http.get(`${acme}/__test/csrf`)).json() as { token: string };
  t.equal((await http.post(`${acme}/__test/whoami`, { _csrf: fresh })).status, 200, "the new session's token works");
});

t.test('over HTTPS the secret cookie is __Host- prefixed and Secure', async (t) => {
  const clinic = await startHttpsClinic(t);
  const page = await clinic.http.get(`${clinic.origin('acme')}/login`);
  t.equal(page.status, 200);
  const line = page.setCookie.find((l) => l.startsWith('__Host-sidechart-csrf='));
  t.ok(line, 'named __Host-sidechart-csrf');
  t.match(line!, /; Secure/i);
  t.match(line!, /Path=\//);
  t.notMatch(line!, /Domain=/i);
  t.equal(page.setCookie.length, 1, 'and no session cookie');
});
