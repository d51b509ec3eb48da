// Every POST needs its session's CSRF token, and browsers' Sec-Fetch-Site must not say the request
// came from another site (sibling clinics are same-site).
import t from 'tap';
import { PASSWORD, addUser, client, csrfTokenIn, startAuthApp } from '../helpers/fixtures.ts';

t.test('sign-in form: token missing, wrong, from another session, or cross-site', async (t) => {
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
    ["another session's token", { ...form, _csrf: otherToken }, {}, /Invalid csrf token/i],
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
