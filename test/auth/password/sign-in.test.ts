// Password sign-in end to end over real HTTP: the button URL sends an anonymous user to the clinic's
// sign-in page and, after a correct password, back to the exact same URL; failures say nothing about
// which part was wrong; disabled accounts; sign-out.
import t from 'tap';
import { WRONG_CREDENTIALS } from '../../../src/auth/password/clinic-host-routes.ts';
import { getAuthSettings, updateAuthSettings } from '../../../src/auth/settings.ts';
import { setUserDisabled } from '../../../src/auth/users.ts';
import {
  authChangesSettled,
  PASSWORD, PATIENT_PATH, addUser, client, csrfTokenIn, sessionCookie, sessionIdOf, sessionRows, signInWithPassword, startAuthApp, tenantDb,
} from '../../helpers/fixtures.ts';

t.test('button URL -> sign-in page -> back to the exact URL, signed in', async (t) => {
  const { runtime, origin } = await startAuthApp(t);
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  const user = await addUser(runtime, 'acme', { email: 'Jo@Acme.Example', name: 'Jo Smith', role: 'admin' });
  t.equal(user.email, 'jo@acme.example', 'stored lowercased');
  const http = client({}, t);
  const acme = origin('acme');

  // The button in Cliniko: a cross-site, top-level GET.
  const first = await http.get(`${acme}${PATIENT_PATH}`, { crossSite: true, headers: { 'sec-fetch-site': 'cross-site' } });
  t.equal(first.status, 303);
  t.equal(first.location, '/login', 'relative: never leaves the host');
  t.equal(first.header('cache-control'), 'no-store');
  t.equal((await sessionRows(runtime, 'acme')).length, 0, 'no session row: the click writes nothing');
  const returnCookie = http.cookies('acme.localhost').find((c) => c.name === 'sidechart-return');
  t.ok(returnCookie, 'the return path is kept in a cookie');
  t.match(decodeURIComponent(returnCookie!.value), `:${PATIENT_PATH}.`, 'which carries the exact URL (signed)');

  const page = await http.get(`${acme}/login`);
  t.equal(page.status, 200);
  t.equal(page.header('cache-control'), 'no-store');
  t.match(page.body, /Sign in to Acme Physio/);
  t.match(page.header('content-security-policy') ?? '', /frame-ancestors 'none'/);
  t.equal(page.header('referrer-policy'), 'no-referrer');
  t.notMatch(page.body, /return_to/, 'the return path is not in the page');

  const posted = await http.post(`${acme}/login`, { email: 'JO@acme.example ', password: PASSWORD, _csrf: csrfTokenIn(page) });
  t.equal(posted.status, 303, posted.body.slice(0, 200));
  t.equal(posted.location, PATIENT_PATH, 'back to the exact original URL');
  t.equal(posted.header('cache-control'), 'no-store');

  // The patient page itself is another test's subject (it needs Cliniko); here: it lets us in.
  const back = await http.get(`${acme}${PATIENT_PATH}`);
  t.not(back.status, 303, 'not sent to sign in again');
  t.not(back.status, 401);
  t.equal(back.header('cache-control'), 'no-store', 'pages that need a user are not cached');
  const who = await http.get(`${acme}/__test/whoami`);
  t.equal(who.status, 200);
  t.equal(who.header('cache-control'), 'no-store');
  t.same((who.json() as { user: unknown }).user, { id: user.id, email: 'jo@acme.example', name: 'Jo Smith', role: 'admin' });

  // Already signed in: the sign-in page sends you home.
  const again = await http.get(`${acme}/login`);
  t.equal(again.status, 303);
  t.equal(again.location, '/');

  const stored = await sessionRows(runtime, 'acme');
  t.equal(stored.length, 1, 'the pre-login session was replaced, not kept');
  t.equal(stored[0]!.data.userId, user.id);
  t.equal(stored[0]!.data.authMethod, 'password');
  t.notOk(http.cookies('acme.localhost').some((c) => c.name === 'sidechart-return'), 'the return path does not outlive sign-in');
});

t.test('wrong password, unknown e-mail and no password look the same', async (t) => {
  const { runtime, origin } = await startAuthApp(t);
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  await addUser(runtime, 'acme', { email: 'sso-only@acme.example', password: null });
  const acme = origin('acme');

  const normalize = (body: string) => body.replace(/name="_csrf" value="[^"]+"/, '').replace(/value="[^"]*@acme\.example"/, '');
  const answers = [];
  for (const [email, password] of [['jo@acme.example', 'wrong password!'], ['nobody@acme.example', PASSWORD], ['sso-only@acme.example', PASSWORD]] as const) {
    const http = client({}, t);
    const res = await signInWithPassword(http, acme, email, password);
    t.equal(res.status, 401, email);
    t.match(res.body, WRONG_CREDENTIALS);
    t.equal(res.header('cache-control'), 'no-store');
    answers.push({ status: res.status, body: normalize(res.body), cookies: res.setCookie.length });
    // Still anonymous afterwards.
    t.equal((await http.get(`${acme}/__test/whoami`)).status, 303);
  }
  t.same(answers[1], answers[0], 'unknown e-mail: identical response');
  t.same(answers[2], answers[0], 'account without a password: identical response');

  // What was typed comes back in the form, escaped.
  const hostile = await signInWithPassword(client({}, t), acme, '"><script>alert(1)</script>@x', 'whatever it is');
  t.equal(hostile.status, 401);
  t.notMatch(hostile.body, /<script>alert/);
  t.match(hostile.body, /&lt;script&gt;/);

  // Control characters (found by the fuzz: a NUL reached PostgreSQL, which refuses it, and gave a
  // 500): nobody's account, the same 401.
  for (const typed of ['jo\u0000@acme.example', 'jo@acme.example\u0000', 'j\u0007o@acme.example', '\u0000']) {
    const res = await signInWithPassword(client({}, t), acme, typed, PASSWORD);
    t.equal(res.status, 401, `e-mail ${JSON.stringify(typed)}: 401`);
    t.match(res.body, WRONG_CREDENTIALS);
  }
});

t.test('a disabled account hears so only after a correct password', async (t) => {
  const { runtime, origin } = await startAuthApp(t);
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  const user = await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  await setUserDisabled(await tenantDb(runtime, 'acme'), user.id, true);
  const http = client({}, t);

  const wrong = await signInWithPassword(http, origin('acme'), 'jo@acme.example', 'not the password');
  t.equal(wrong.status, 401);
  t.notMatch(wrong.body, /disabled/);
  const right = await signInWithPassword(http, origin('acme'), 'jo@acme.example', PASSWORD);
  t.equal(right.status, 403);
  t.match(right.body, /This account is disabled/);
  t.equal((await http.get(`${origin('acme')}/__test/whoami`)).status, 303, 'not signed in');
});

t.test('disabling a signed-in user ends the session at the next request', async (t) => {
  const { runtime, origin } = await startAuthApp(t);
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  const user = await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  const http = client({}, t);
  t.equal((await signInWithPassword(http, origin('acme'), 'jo@acme.example', PASSWORD)).status, 303);
  t.equal((await http.get(`${origin('acme')}/__test/whoami`)).status, 200);
  await setUserDisabled(await tenantDb(runtime, 'acme'), user.id, true);
  await authChangesSettled(runtime);
  t.equal((await http.get(`${origin('acme')}/__test/whoami`)).status, 303);
  t.equal((await sessionRows(runtime, 'acme')).filter((r) => r.data.userId).length, 0, 'its record is destroyed');
});

t.test('sign-out needs the session token and destroys the server record', async (t) => {
  const { runtime, origin } = await startAuthApp(t);
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  const http = client({}, t);
  const acme = origin('acme');
  await signInWithPassword(http, acme, 'jo@acme.example', PASSWORD);
  const cookie = sessionCookie(http, 'acme.localhost')!;
  const id = sessionIdOf(cookie);
  t.ok((await sessionRows(runtime, 'acme')).some((r) => r.id === id));

  const forged = await http.post(`${acme}/logout`, { _csrf: 'forged' });
  t.equal(forged.status, 403, 'without the session token: refused');
  t.ok((await sessionRows(runtime, 'acme')).some((r) => r.id === id), 'and nothing changed');

  // A page rendered for this session carries its token (reply.generateCsrf()).
  const { token } = (await http.get(`${acme}/__test/csrf`)).json() as { token: string };
  const out = await http.post(`${acme}/logout`, { _csrf: token });
  t.equal(out.status, 303);
  t.equal(out.location, '/login');
  t.notOk((await sessionRows(runtime, 'acme')).some((r) => r.id === id), 'the record is gone');
  t.equal(sessionCookie(http, 'acme.localhost'), undefined, 'the cookie is cleared');
  const replay = await http.get(`${acme}/__test/whoami`, { headers: { cookie: `sidechart=${cookie}` } });
  t.equal(replay.status, 303, 'the old cookie no longer works');
});

t.test('a clinic without password sign-in shows no form and refuses the POST', async (t) => {
  const { runtime, origin } = await startAuthApp(t);
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  const http = client({}, t);
  const page = await http.get(`${origin('acme')}/login`);
  const token = csrfTokenIn(page);
  await updateAuthSettings(await tenantDb(runtime, 'acme'), { passwordEnabled: false });
  t.equal((await getAuthSettings(await tenantDb(runtime, 'acme'))).passwordEnabled, false);

  const without = await http.get(`${origin('acme')}/login`);
  t.equal(without.status, 200);
  t.notMatch(without.body, /type="password"/);
  t.match(without.body, /No way to sign in is set up/);
  const post = await http.post(`${origin('acme')}/login`, { email: 'jo@acme.example', password: PASSWORD, _csrf: token });
  t.equal(post.status, 403);
  t.equal((await http.get(`${origin('acme')}/__test/whoami`)).status, 303);
});

t.test('hashes made with other parameters are upgraded at sign-in', async (t) => {
  const { runtime, origin } = await startAuthApp(t, { env: { PASSWORD_HASH_MEMORY_KIB: '128' } });
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  const user = await addUser(runtime, 'acme', { email: 'jo@acme.example' }); // hashed with 64 KiB
  t.match(user.password_hash, /m=64,/);
  const res = await signInWithPassword(client({}, t), origin('acme'), 'jo@acme.example', PASSWORD);
  t.equal(res.status, 303);
  const db = await tenantDb(runtime, 'acme');
  const row = await db.selectFrom('users').select('password_hash').where('id', '=', user.id).executeTakeFirstOrThrow();
  t.match(row.password_hash, /m=128,/);
});
