// The signed-in chrome of every clinic page (infra/views/layout.eta, drawn by infra/html.ts from
// the request): the clinic, the user's name and role, a sign-out button that works, the admin
// link for admins only; nothing for anonymous visitors or on the platform host.
import t from 'tap';
import { addUser, csrfTokenIn, sessionRows } from '../helpers/fixtures.ts';
import { signIn, startPatientApp, textOf } from '../helpers/patients.ts';

const SIGN_OUT_FORM = /<form class="sign-out" method="post" action="\/logout">\s*<input type="hidden" name="_csrf" value="[^"]+">/;

t.test('staff see the clinic, their name and role and a sign-out button, and no admin link', async (t) => {
  const app = await startPatientApp(t);
  for (const path of ['/', '/no-such-page']) {
    const page = await app.http.get(`${app.origin}${path}`);
    t.equal(page.status, path === '/' ? 200 : 404, path);
    const text = textOf(page.body);
    t.ok(text.includes('Signed in as Sam Carter Staff'), `${path}: who is signed in, and as what`);
    t.match(page.body, /<a class="clinic-name" href="\/">Acme Physio<\/a>/, `${path}: the clinic, linking home`);
    t.match(page.body, SIGN_OUT_FORM, `${path}: a sign-out form with its token`);
    t.notMatch(page.body, /href="\/admin"/, `${path}: no admin link for staff`);
  }
});

t.test('admins also get the admin link', async (t) => {
  const app = await startPatientApp(t);
  const admin = await addUser(app.runtime, app.slug, { email: 'jo@acme.example', name: 'Jo Admin', role: 'admin' });
  const browser = app.newClient();
  t.equal((await signIn(browser, app.origin, admin.email)).status, 303);
  const page = await browser.get(`${app.origin}/`);
  t.ok(textOf(page.body).includes('Signed in as Jo Admin Admin'));
  t.match(page.body, /<a class="admin-link" href="\/admin">Admin<\/a>/);
  t.match(page.body, SIGN_OUT_FORM);
});

t.test('the chrome is escaped: a user name is text, never markup', async (t) => {
  const app = await startPatientApp(t);
  const user = await addUser(app.runtime, app.slug, { email: 'x@acme.example', name: '<img src=x onerror=alert(1)> "Q"' });
  const browser = app.newClient();
  await signIn(browser, app.origin, user.email);
  const page = await browser.get(`${app.origin}/`);
  t.notOk(page.body.includes('<img src=x'), 'no markup from the name');
  t.ok(page.body.includes('&lt;img src=x onerror=alert(1)&gt; &quot;Q&quot;'), 'shown escaped');
});

t.test('sign-out: the form with its token signs out; without it nothing happens', async (t) => {
  const app = await startPatientApp(t);
  const home = await app.http.get(`${app.origin}/`);
  t.equal((await sessionRows(app.runtime, app.slug)).length, 1, 'signed in: one session');

  const noToken = await app.http.post(`${app.origin}/logout`, {});
  t.equal(noToken.status, 403, 'no token: refused');
  t.ok(textOf((await app.http.get(`${app.origin}/`)).body).includes('Sam Carter'), 'still signed in');

  const out = await app.http.post(`${app.origin}/logout`, { _csrf: csrfTokenIn(home) });
  t.equal(out.status, 303);
  t.equal(out.redirectUrl, `${app.origin}/login`);
  t.equal((await sessionRows(app.runtime, app.slug)).length, 0, 'the session is destroyed');
  const after = await app.http.get(`${app.origin}/`);
  t.notOk(textOf(after.body).includes('Sam Carter'), 'no user chrome any more');
  t.notOk(after.body.includes('action="/logout"'));
  t.equal((await app.view('836447129235883061')).status, 303, 'the patient page asks to sign in again');
});

t.test('anonymous visitors and the platform host get no user chrome, and nothing is stored', async (t) => {
  const app = await startPatientApp(t);
  const browser = app.newClient();
  for (const url of [`${app.origin}/`, `${app.origin}/login`, `${app.origin}/no-such-page`, `http://localhost:${app.port}/`]) {
    const page = await browser.get(url);
    t.ok(page.status < 500, url);
    t.notOk(page.body.includes('action="/logout"'), `${url}: no sign-out`);
    t.notOk(page.body.includes('Signed in as'), `${url}: nobody named`);
    t.notOk(page.body.includes('href="/admin"'), `${url}: no admin link`);
  }
  const anonymousHome = await browser.get(`${app.origin}/`);
  t.same(anonymousHome.setCookie, [], 'the anonymous home sets no cookie');
  t.equal((await sessionRows(app.runtime, app.slug)).length, 1, 'only the signed-in fixture user has a session');
});
