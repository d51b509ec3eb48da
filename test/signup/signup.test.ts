// Sign-up end to end over real HTTP: the landing page's link, the form, provisioning, the hand-off
// to the new clinic's host and the admin signed in there with a host-only session; every field's
// problem shown next to it with the input kept; the hand-off used once only.
import t from 'tap';
import { createTestDatabase } from '../helpers/db.ts';
import { sessionCookie } from '../helpers/fixtures.ts';
import { FORM, browser, startSignupApp, submitSignup } from './helpers.ts';

t.test('sign up, arrive signed in as the admin on the clinic host; the hand-off works once', async (t) => {
  const { runtime, platform, origin, toApp } = await startSignupApp(t);
  const http = browser(t);

  const landing = await http.get(`${platform}/`);
  t.equal(landing.status, 200);
  t.match(landing.body, /<a href="\/signup" id="set-up-your-clinic">Set up your clinic<\/a>/, 'the landing page links to sign-up');

  const page = await http.get(`${platform}/signup?name=${encodeURIComponent('Acme Physio')}`);
  t.equal(page.status, 200);
  t.match(page.body, /<label for="clinicName">Clinic name<\/label>/);
  t.match(page.body, /id="slug"[^>]*value="acme-physio"/, 'the address suggested from the name is filled in');
  t.match(page.body, /id="region-local"[^>]*checked/, 'the only open region is chosen');
  t.match(page.body, /Stored on this server \(development\)/, 'where the data will live, in words');
  t.notMatch(page.body, /<script/, 'no script');
  t.equal(page.header('cache-control'), 'no-store');

  const started = Date.now();
  const posted = await submitSignup(http, platform, FORM);
  const provisioningMs = Date.now() - started;
  t.equal(posted.status, 303, posted.body.slice(0, 300));
  const target = new URL(posted.redirectUrl!);
  t.equal(target.hostname, 'acme-physio.localhost', "sent to the new clinic's own host");
  t.equal(target.pathname, '/signup/complete');
  t.ok(target.searchParams.get('token'), 'with a hand-off token');
  t.ok(provisioningMs < 5_000, `provisioned while the user waited (${provisioningMs} ms)`);
  t.equal(sessionCookie(http, 'localhost'), undefined, 'no session on the platform host');

  const tenant = await runtime.tenants.find('acme-physio');
  t.equal(tenant.status, 'active');
  t.equal(tenant.displayName, 'Acme Physio');
  t.equal(tenant.regionId, 'local');

  const arrived = await http.get(toApp(target.href));
  t.equal(arrived.status, 303, arrived.body.slice(0, 300));
  t.equal(arrived.location, '/', "to the clinic's home");
  const cookieLine = arrived.setCookie.find((line) => line.startsWith('sidechart='));
  t.ok(cookieLine, 'a session cookie is set by the clinic host itself');
  t.notMatch(cookieLine!, /domain=/i, 'host-only: no Domain attribute');
  t.match(cookieLine!, /HttpOnly/i);
  t.match(cookieLine!, /SameSite=Lax/i);
  const stored = http.cookies('acme-physio.localhost').find((c) => c.name === 'sidechart');
  t.equal(stored?.hostOnly, true);

  const whoami = await http.get(`${origin('acme-physio')}/__test/whoami`);
  t.equal(whoami.status, 200);
  t.match(whoami.json(), { user: { email: 'jo@acme.example', name: 'Jo Admin', role: 'admin' } }, 'signed in as the new admin');
  const home = await http.get(`${origin('acme-physio')}/`);
  t.equal(home.status, 200);
  t.match(home.body, /Acme Physio/);

  // Another clinic's host and the platform host know nothing of this session.
  await runtime.tenants.create({ slug: 'other', displayName: 'Other' });
  t.equal((await http.get(`${origin('other')}/__test/whoami`)).status, 303, 'not signed in on another clinic');

  // The hand-off is single use: replayed by the same browser or by another, it is refused.
  const replay = await http.get(toApp(target.href));
  t.equal(replay.status, 400);
  t.match(replay.body, /expired or was already used/);
  const thief = browser(t);
  t.equal((await thief.get(toApp(target.href))).status, 400, 'replayed from another browser');
  t.equal((await thief.get(`${origin('acme-physio')}/__test/whoami`)).status, 303, 'and that browser is not signed in');

  // The password chosen works for the ordinary sign-in too, and was stored as an argon2id hash.
  const { db } = await runtime.clinics.open('acme-physio', { for: 'operator' });
  const users = await db.selectFrom('users').select(['email', 'role', 'password_hash']).execute();
  t.equal(users.length, 1);
  t.match(users[0]!.password_hash, /^\$argon2id\$/);
  const created = await db.selectFrom('audit_events').select(['action', 'user_id', 'detail', 'client_ip']).execute();
  t.equal(created.length, 1, "the clinic's trail starts with its creation");
  t.match(created[0], { action: 'clinic_created', user_id: (await db.selectFrom('users').select('id').executeTakeFirstOrThrow()).id, detail: /region local/, client_ip: '127.0.0.1' }, 'by its first admin, from where');
  const later = browser(t);
  const { signInWithPassword } = await import('../helpers/fixtures.ts');
  t.equal((await signInWithPassword(later, origin('acme-physio'), 'jo@acme.example', FORM.password)).status, 303, 'signs in with the chosen password');
});

t.test('a hand-off is refused on another clinic, forged, or on the platform host', async (t) => {
  const { runtime, platform, origin, toApp } = await startSignupApp(t);
  await runtime.tenants.create({ slug: 'other', displayName: 'Other' });
  const http = browser(t);
  const posted = await submitSignup(http, platform, FORM);
  const target = new URL(posted.redirectUrl!);
  const token = target.searchParams.get('token')!;

  t.equal((await http.get(`${origin('acme-physio')}/signup/complete?token=forged`)).status, 400, 'forged token');
  // Presented to another clinic it is burnt there, and then useless on its own clinic too.
  const elsewhere = await http.get(`${origin('other')}/signup/complete?token=${encodeURIComponent(token)}`);
  t.equal(elsewhere.status, 400, "another clinic's host refuses it");
  t.equal((await http.get(toApp(target.href))).status, 400, 'burnt by the first presentation');
  t.equal((await http.get(`${platform}/signup/complete?token=x`)).status, 404, 'no hand-off on the platform host');
  t.equal((await http.get(`${origin('other')}/signup`)).status, 404, 'no sign-up form on a clinic host');
});

t.test('each problem is shown next to its field, with the input kept', async (t) => {
  const { runtime, platform } = await startSignupApp(t);
  await runtime.tenants.create({ slug: 'taken', displayName: 'Taken Clinic' });
  const http = browser(t);

  const cases: [string, Partial<typeof FORM>, string, RegExp, number][] = [
    ['bad address', { slug: 'Acme_Physio!' }, 'slug', /lowercase letters a-z, digits and dashes/, 400],
    ['address with a leading dash', { slug: '-acme' }, 'slug', /not starting or ending with a dash/, 400],
    ['reserved address', { slug: 'admin' }, 'slug', /&quot;admin&quot; is reserved/, 400],
    ['taken address', { slug: 'taken', clinicName: 'Taken' }, 'slug', /taken is already taken\. taken-2 is free/, 409],
    ['no address', { slug: '' }, 'slug', /Choose an address/, 400],
    ['bad e-mail', { email: 'jo at acme' }, 'email', /Enter an e-mail address like name@example.com/, 400],
    ['short password', { password: 'short' }, 'password', /at least 10 characters/, 400],
    ['long password', { password: 'x'.repeat(1025) }, 'password', /at most 1024 characters/, 400],
    ['unknown region', { region: 'mars' }, 'region', /does not accept new clinics/, 400],
    ['no region', { region: '' }, 'region', /Choose where your clinic/, 400],
    ['no clinic name', { clinicName: '  ' }, 'clinicName', /Enter your clinic&#39;s name|Enter your clinic's name/, 400],
    ['no admin name', { adminName: '' }, 'adminName', /Enter your name/, 400],
  ];
  for (const [what, change, field, message, status] of cases) {
    const fields = { ...FORM, slug: `ok-${field.toLowerCase()}`, ...change };
    const res = await submitSignup(http, platform, fields);
    t.equal(res.status, status, what);
    const error = new RegExp(`<(?:span|p) class="field-error" id="${field}-error">[^<]*`).exec(res.body)?.[0] ?? '';
    t.match(error, message, `${what}: the message is next to the field`);
    t.match(res.body, new RegExp(`aria-describedby="[^"]*${field}-error`), `${what}: the field points at its message`);
    t.match(res.body, /role="alert" id="signup-errors"/, `${what}: a summary links to the field`);
    t.match(res.body, new RegExp(`href="#${field}"`), `${what}: the summary links to the field`);
    if (field !== 'email') t.match(res.body, /id="email"[^>]*value="jo@acme.example"/, `${what}: e-mail kept`);
    if (field !== 'adminName') t.match(res.body, /id="adminName"[^>]*value="Jo Admin"/, `${what}: name kept`);
    t.notMatch(res.body, /correct horse battery staple/, `${what}: the password is never echoed`);
    if (field === 'email') t.match(res.body, /id="email"[^>]*value="jo at acme"/, `${what}: the bad e-mail is kept to fix`);
  }
  const taken = await submitSignup(http, platform, { ...FORM, slug: 'taken' });
  t.match(taken.body, /id="slug"[^>]*value="taken-2"/, 'a free address near the taken one is filled in');
  const empty = await submitSignup(http, platform, { ...FORM, slug: '' });
  t.match(empty.body, /id="slug"[^>]*value="acme-physio"/, "an empty address gets the one made from the clinic's name");

  const tenants = await runtime.tenants.list();
  t.same(tenants.map((x) => x.slug), ['taken'], 'no clinic was created by a refused form');
});

t.test('a drained region is not offered and is refused', async (t) => {
  const { runtime, platform } = await startSignupApp(t);
  await runtime.regions.drain('local');
  const http = browser(t);
  const page = await http.get(`${platform}/signup`);
  t.match(page.body, /not accepting new clinics at the moment/);
  t.notMatch(page.body, /id="region-local"/);
  // A form kept from before the region closed.
  await runtime.regions.undrain('local');
  const form = await http.get(`${platform}/signup`);
  await runtime.regions.drain('local');
  const token = /name="_csrf" value="([^"]+)"/.exec(form.body)![1]!;
  const res = await http.post(`${platform}/signup`, { ...FORM, _csrf: token });
  t.equal(res.status, 400);
  t.match(res.body, /href="#region">That region does not accept new clinics/);
  t.same(await runtime.tenants.list(), []);
});

t.test('with several regions: each in words, a drained one refused next to the field', async (t) => {
  const url = await createTestDatabase(t);
  // A second region on the same server is enough here: schemas are named by the clinic's id.
  const { runtime, platform } = await startSignupApp(t, { DATABASE_URL: url, SIDECHART_REGIONS: `au=${url}` });
  const http = browser(t);
  const page = await http.get(`${platform}/signup`);
  t.match(page.body, /<label for="region-au">Stored in Australia<\/label>/);
  t.match(page.body, /<label for="region-local">Stored on this server \(development\)<\/label>/);
  t.notMatch(page.body, /checked/, 'nothing chosen for the user when there is a choice');
  await runtime.regions.drain('au');
  const token = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
  const res = await http.post(`${platform}/signup`, { ...FORM, region: 'au', _csrf: token });
  t.equal(res.status, 400);
  t.match(res.body, /id="region-error">That region does not accept new clinics/);
  t.match(res.body, /id="clinicName"[^>]*value="Acme Physio"/, 'input kept');
  t.notMatch(res.body, /id="region-au"/, 'the drained region is no longer offered');
  t.match(res.body, /id="region-au-drained">Stored in Australia: not accepting new clinics at the moment\./, 'and the page says so');
  const ok = await http.post(`${platform}/signup`, { ...FORM, region: 'local', _csrf: token });
  t.equal(ok.status, 303);
  t.equal((await runtime.tenants.find('acme-physio')).regionId, 'local');
  await runtime.regions.undrain('au');
  const inAu = await http.post(`${platform}/signup`, { ...FORM, slug: 'acme-au', region: 'au', _csrf: token });
  t.equal(inAu.status, 303);
  t.equal((await runtime.tenants.find('acme-au')).regionId, 'au', 'placed in the region chosen');
});

t.test('two sign-ups race for one address: exactly one wins, the other is told it is taken', async (t) => {
  const { runtime, platform } = await startSignupApp(t);
  const a = browser(t);
  const b = browser(t);
  const [pageA, pageB] = await Promise.all([a.get(`${platform}/signup`), b.get(`${platform}/signup`)]);
  const token = (body: string) => /name="_csrf" value="([^"]+)"/.exec(body)![1]!;
  const [resA, resB] = await Promise.all([
    a.post(`${platform}/signup`, { ...FORM, email: 'a@acme.example', _csrf: token(pageA.body) }),
    b.post(`${platform}/signup`, { ...FORM, email: 'b@acme.example', _csrf: token(pageB.body) }),
  ]);
  const statuses = [resA.status, resB.status].sort();
  t.same(statuses, [303, 409], 'one clinic, one refusal');
  const loser = resA.status === 409 ? resA : resB;
  t.match(loser.body, /acme-physio is already taken/);
  t.match(loser.body, /id="email"[^>]*value="[ab]@acme.example"/, "the loser's input is kept");
  const tenants = await runtime.tenants.list();
  t.equal(tenants.length, 1);
  const { db } = await runtime.clinics.open('acme-physio', { for: 'operator' });
  const users = await db.selectFrom('users').select('email').execute();
  const winner = resA.status === 303 ? 'a@acme.example' : 'b@acme.example';
  t.same(users.map((u) => u.email), [winner], "the clinic's admin is the winner");
});
