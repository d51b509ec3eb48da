// Sessions over real HTTP: fixation, binding to the clinic, idle and absolute expiry (clocks moved
// in the database, no sleeping), no rows or writes where none are needed, the cookie's attributes.
import t from 'tap';
import { Signer } from '@fastify/cookie';
import { resolveSecrets } from '../../../src/infra/secrets.ts';
import { newSessionId } from '../../../src/auth/session/id.ts';
import { updateAuthSettings } from '../../../src/auth/settings.ts';
import {
  startHttpsClinic,
  authChangesSettled,
  PASSWORD, PATIENT_PATH, addUser, ageSession, client, csrfTokenIn, sessionCookie, sessionIdOf, sessionRows, signInWithPassword, startAuthApp, tenantDb,
} from '../../helpers/fixtures.ts';

/** The attributes of a Set-Cookie line, lowercased names, in order, without the name=value pair. */
function attributes(line: string): string[] {
  return line.split(';').slice(1).map((part) => part.trim()).filter(Boolean);
}

t.test('session fixation: the ID changes at sign-in and the old one is dead', async (t) => {
  const { runtime, origin, config } = await startAuthApp(t);
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  const http = client({}, t);
  const acme = origin('acme');

  // The sign-in form starts no session (its CSRF secret is a cookie of its own, csrf.ts). A
  // pre-login session exists once a single sign-on starts; an attacker can start one in their own
  // browser and plant its cookie in the victim's. Made here the way that step makes it.
  const acmeTenant = await runtime.tenants.find('acme');
  const beforeId = newSessionId({ regionId: acmeTenant.regionId, schemaName: acmeTenant.schemaName });
  t.match(beforeId, /^local\.t_\d+\.[A-Za-z0-9_-]{43}$/, '<region>.<schema>.<256 random bits>');
  await (await tenantDb(runtime, 'acme')).insertInto('sessions')
    .values({ id: beforeId, data: JSON.stringify({ cookie: { path: '/' }, oidc: { state: 'x' } }), expires_at: new Date(Date.now() + 3_600_000) }).execute();
  const before = encodeURIComponent(new Signer(resolveSecrets(config).sessionSecret).sign(beforeId));
  http.setCookie(acme, `sidechart=${before}; Path=/; HttpOnly`);

  const page = await http.get(`${acme}/login`);
  t.equal(sessionCookie(http, 'acme.localhost'), before, 'showing the form keeps the planted cookie as it is');
  t.same((await sessionRows(runtime, 'acme')).map((r) => r.id), [beforeId], 'and stores no other session');

  const res = await http.post(`${acme}/login`, { email: 'jo@acme.example', password: PASSWORD, _csrf: csrfTokenIn(page) });
  t.equal(res.status, 303);
  const after = sessionCookie(http, 'acme.localhost');
  t.ok(after);
  t.not(sessionIdOf(after!), beforeId, 'new session ID after sign-in');
  t.same((await sessionRows(runtime, 'acme')).map((r) => r.id), [sessionIdOf(after!)], 'the pre-login record is destroyed');

  // An attacker who planted (or kept) the pre-login cookie gets nothing.
  const attacker = client({}, t);
  const planted = await attacker.get(`${acme}/__test/whoami`, { headers: { cookie: `sidechart=${before}` } });
  t.equal(planted.status, 303);
  t.equal(planted.location, '/login');
  t.equal((await http.get(`${acme}/__test/whoami`)).status, 200, 'the new cookie works');

  // Forged or unknown cookies are simply anonymous (no error page).
  for (const forged of ['junk', `${beforeId}.badsignature`, 'local.t_1.AAAA', `${encodeURIComponent(after!)}x`]) {
    const r = await attacker.get(`${acme}/__test/whoami`, { headers: { cookie: `sidechart=${forged}` } });
    t.equal(r.status, 303, `forged cookie ${forged.slice(0, 20)}: anonymous`);
  }
});

t.test('a session of clinic A presented on clinic B is ignored, and A keeps it', async (t) => {
  const { runtime, origin, config } = await startAuthApp(t);
  await runtime.tenants.create({ slug: 'clinic-a', displayName: 'Clinic A' });
  await runtime.tenants.create({ slug: 'clinic-b', displayName: 'Clinic B' });
  // The same e-mail exists in both clinics: still two different accounts.
  await addUser(runtime, 'clinic-a', { email: 'jo@example.com' });
  await addUser(runtime, 'clinic-b', { email: 'jo@example.com' });
  const http = client({}, t);
  await signInWithPassword(http, origin('clinic-a'), 'jo@example.com', PASSWORD);
  const cookieA = sessionCookie(http, 'clinic-a.localhost')!;
  const rowsA = await sessionRows(runtime, 'clinic-a');

  const replay = await http.get(`${origin('clinic-b')}${PATIENT_PATH}`, { headers: { cookie: `sidechart=${cookieA}` } });
  t.equal(replay.status, 303, 'anonymous on B');
  t.equal(replay.location, '/login');
  const whoB = await http.get(`${origin('clinic-b')}/__test/whoami`, { headers: { cookie: `sidechart=${cookieA}`, accept: 'application/json' } });
  t.equal(whoB.status, 303);

  t.same(await sessionRows(runtime, 'clinic-a'), rowsA, "A's record is untouched");
  const whoA = await http.get(`${origin('clinic-a')}/__test/whoami`);
  t.equal(whoA.status, 200, 'and still works on A');

  // Defence in depth: a row of A's copied into B's table (a botched restore) names B's schema, but
  // it was made for A's clinic, so B refuses it and removes it.
  const tenantB = await runtime.tenants.find('clinic-b');
  const rowA = rowsA[0]!;
  const movedId = rowA.id.replace(/\.t_\d+\./, `.${tenantB.schemaName}.`);
  const dbB = await tenantDb(runtime, 'clinic-b');
  await dbB.insertInto('sessions').values({ id: movedId, data: JSON.stringify(rowA.data), expires_at: rowA.expires_at }).execute();
  const signed = new Signer(resolveSecrets(config).sessionSecret).sign(movedId);
  const moved = await http.get(`${origin('clinic-b')}/__test/whoami`, { headers: { cookie: `sidechart=${encodeURIComponent(signed)}` } });
  t.equal(moved.status, 303, "A's session data under B's schema: anonymous");
  t.notOk((await sessionRows(runtime, 'clinic-b')).some((r) => r.id === movedId), 'and destroyed');
});

t.test('idle and absolute timeouts, per clinic, enforced on the server', async (t) => {
  const { runtime, origin } = await startAuthApp(t);
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  const acme = origin('acme');
  const minutes = (n: number) => n * 60_000;

  const signedIn = async () => {
    const http = client({}, t);
    await signInWithPassword(http, acme, 'jo@acme.example', PASSWORD);
    const id = sessionIdOf(sessionCookie(http, 'acme.localhost')!);
    t.equal((await http.get(`${acme}/__test/whoami`)).status, 200);
    return { http, id };
  };
  const expectExpired = async (http: ReturnType<typeof client>, id: string, what: string) => {
    const res = await http.get(`${acme}${PATIENT_PATH}`);
    t.equal(res.status, 303, `${what}: anonymous`);
    t.equal(res.location, '/login', `${what}: sent to sign in`);
    t.notOk((await sessionRows(runtime, 'acme')).some((r) => r.id === id), `${what}: record destroyed`);
    const returnCookie = http.cookies('acme.localhost').find((c) => c.name === 'sidechart-return');
    t.match(decodeURIComponent(returnCookie?.value ?? ''), `:${PATIENT_PATH}.`, `${what}: the return cookie remembers where to return`);
    t.notOk((await sessionRows(runtime, 'acme')).some((r) => !r.data.userId), `${what}: and no pre-login session is stored for it`);
  };

  // Defaults: 30 minutes idle, 8 hours absolute.
  const idle = await signedIn();
  await ageSession(runtime, 'acme', idle.id, { seenAgoMs: minutes(29) });
  t.equal((await idle.http.get(`${acme}/__test/whoami`)).status, 200, '29 minutes idle: still signed in');
  await ageSession(runtime, 'acme', idle.id, { seenAgoMs: minutes(31) });
  await expectExpired(idle.http, idle.id, '31 minutes idle');

  const absolute = await signedIn();
  await ageSession(runtime, 'acme', absolute.id, { signedInAgoMs: minutes(8 * 60 + 1), seenAgoMs: 1000 });
  await expectExpired(absolute.http, absolute.id, 'active but signed in 8 hours ago');

  // The clinic shortens both.
  await updateAuthSettings(await tenantDb(runtime, 'acme'), { idleTimeoutMinutes: 5, absoluteTimeoutMinutes: 60 });
  const shortIdle = await signedIn();
  await ageSession(runtime, 'acme', shortIdle.id, { seenAgoMs: minutes(6) });
  await expectExpired(shortIdle.http, shortIdle.id, 'clinic idle timeout of 5 minutes');
  const shortAbsolute = await signedIn();
  await ageSession(runtime, 'acme', shortAbsolute.id, { signedInAgoMs: minutes(61), seenAgoMs: 0 });
  await expectExpired(shortAbsolute.http, shortAbsolute.id, 'clinic absolute timeout of 60 minutes');

  // The stored expiry is a hard limit too (a row past expires_at is never read).
  const hard = await signedIn();
  await (await tenantDb(runtime, 'acme')).updateTable('sessions').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', hard.id).execute();
  await authChangesSettled(runtime);
  t.equal((await hard.http.get(`${acme}/__test/whoami`)).status, 303, 'past expires_at: anonymous');
});

t.test('no rows for anonymous visitors; reading a session writes nothing', async (t) => {
  const { runtime, origin } = await startAuthApp(t);
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  const acme = origin('acme');
  const http = client({}, t);

  for (const path of ['/', '/assets/sidechart.css', '/healthz']) {
    const res = await http.get(`${acme}${path}`);
    t.equal(res.status, 200, path);
    t.same(res.setCookie, [], `${path}: no cookie`);
  }
  t.equal((await sessionRows(runtime, 'acme')).length, 0, 'no session row for plain anonymous page views');
  const head = await http.request('HEAD', `${acme}${PATIENT_PATH}`);
  t.equal(head.status, 303);
  t.equal((await sessionRows(runtime, 'acme')).length, 0, 'HEAD of a protected page stores nothing');
  t.same(head.setCookie, [], 'not even the return cookie');
  const get = await http.get(`${acme}${PATIENT_PATH}`);
  t.equal(get.status, 303);
  t.equal((await sessionRows(runtime, 'acme')).length, 0, 'nor does a GET of it (the return path is a cookie)');

  await signInWithPassword(http, acme, 'jo@acme.example', PASSWORD);
  const [row] = await sessionRows(runtime, 'acme');
  for (let i = 0; i < 5; i++) {
    const res = await http.get(`${acme}/__test/whoami`);
    t.equal(res.status, 200);
    t.same(res.setCookie, [], 'no Set-Cookie on an ordinary signed-in request');
  }
  const [same] = await sessionRows(runtime, 'acme');
  t.same(same!.updated_at, row!.updated_at, 'the row was not rewritten');
  t.same(same!.data, row!.data);

  // Once seenAt has aged past the touch interval, one request refreshes it (one write), then none.
  await ageSession(runtime, 'acme', row!.id, { seenAgoMs: 2 * 60_000 });
  const aged = (await sessionRows(runtime, 'acme'))[0]!;
  t.equal((await http.get(`${acme}/__test/whoami`)).status, 200);
  const touched = (await sessionRows(runtime, 'acme'))[0]!;
  t.ok((touched.data.seenAt as number) > (aged.data.seenAt as number), 'seenAt refreshed');
  t.ok(touched.expires_at.getTime() > aged.expires_at.getTime() - 1, 'expiry moved with it');
  t.equal((await http.get(`${acme}/__test/whoami`)).status, 200);
  t.same((await sessionRows(runtime, 'acme'))[0]!.updated_at, touched.updated_at, 'and the next request writes nothing');
});

t.test('cookie attributes in development (plain HTTP)', async (t) => {
  const { runtime, origin } = await startAuthApp(t);
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  const http = client({}, t);
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  const page = await http.get(`${origin('acme')}/login`);
  t.same(page.setCookie.map((l) => l.split('=')[0]), ['sidechart-csrf'], 'the form sets only its CSRF secret cookie');
  const res = await http.post(`${origin('acme')}/login`, { email: 'jo@acme.example', password: PASSWORD, _csrf: csrfTokenIn(page) });
  t.equal(res.status, 303);
  t.equal(res.setCookie.length, 1);
  const line = res.setCookie[0]!;
  t.match(line, /^sidechart=[^;]+;/);
  t.same(attributes(line).sort(), ['HttpOnly', 'Path=/', 'SameSite=Lax'].sort(), line);
  t.notMatch(line, /Domain|Secure|Expires|Max-Age/i);
});

t.test('cookie attributes over HTTPS behind a trusted proxy', async (t) => {
  const { runtime, origin, http } = await startHttpsClinic(t);
  const res = await http.get(`${origin('acme')}/login`);
  t.equal(res.status, 200);
  t.same(res.setCookie.map((l) => l.split('=')[0]), ['__Host-sidechart-csrf'], 'the form sets only its CSRF secret cookie');
  t.match(res.header('strict-transport-security') ?? '', /max-age=/);

  // The whole sign-in works with it, and the session cookie it sets is __Host-, Secure, host-only.
  const signed = await http.post(`${origin('acme')}/login`, { email: 'jo@acme.example', password: PASSWORD, _csrf: csrfTokenIn(res) });
  t.equal(signed.status, 303);
  const after = signed.setCookie.find((l) => l.startsWith('__Host-sidechart='))!;
  t.match(after, /^__Host-sidechart=[^;]+;/);
  t.same(attributes(after).sort(), ['HttpOnly', 'Path=/', 'SameSite=Lax', 'Secure'].sort(), after);
  t.notMatch(after, /Domain/i);
  t.equal((await http.get(`${origin('acme')}/__test/whoami`)).status, 200);

  // Sign-out clears it with the attributes a browser needs to accept the clearing of a __Host- cookie.
  const { token } = (await http.get(`${origin('acme')}/__test/csrf`)).json() as { token: string };
  const out = await http.post(`${origin('acme')}/logout`, { _csrf: token });
  t.equal(out.status, 303);
  const cleared = out.setCookie.find((l) => l.startsWith('__Host-sidechart='))!;
  t.match(cleared, /^__Host-sidechart=;/);
  t.match(cleared, /Secure/);
  t.match(cleared, /Path=\//);
  t.notMatch(cleared, /Domain/i);
  t.equal(sessionCookie(http, 'acme.localhost', '__Host-sidechart'), undefined, 'the browser drops it');

  // Without the proxy saying https, no cookie is issued at all (never a non-Secure one).
  const plain = client({}, t);
  const insecure = await plain.get(`${origin('acme')}/login`);
  t.same(insecure.setCookie, []);
});
