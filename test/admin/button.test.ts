// /admin/button: the exact URL to paste into Cliniko (from configuration: the clinic's slug, the
// public scheme and port, the base domain the admin came in on), the copy button's script served
// from our own origin under the unchanged strict CSP, the steps in Cliniko, and the "try it" link.
import t from 'tap';
import { sql } from 'kysely';
import { addUser, signInWithPassword, startHttpsClinic } from '../helpers/fixtures.ts';
import { EXAMPLE_ID, MAX_ID, signIn, textOf } from '../helpers/patients.ts';
import { startAdminApp } from './admin-app.ts';

const STRICT_CSP = "default-src 'self';script-src 'self';style-src 'self';img-src 'self' data:;form-action 'self';frame-ancestors 'none';base-uri 'none';object-src 'none'";

function urlField(html: string): string | undefined {
  return /<input type="text" id="button-url" value="([^"]*)" readonly/.exec(html)?.[1];
}

t.test('the URL, the copy button and the steps', async (t) => {
  const app = await startAdminApp(t);
  const page = await app.admin.get(`${app.origin}/admin/button`);
  t.equal(page.status, 200);
  t.equal(urlField(page.body), `http://acme.localhost:${app.config.publicPort}/patients`, 'scheme, clinic host and public port from configuration');
  t.match(page.body, /<label for="button-url">/, 'the field has a label');
  t.match(page.body, /<button type="button" data-copy="button-url"[^>]*hidden>Copy URL<\/button>/, 'a copy button, shown by the script');
  t.match(textOf(page.body), /Settings &gt; Our clinic &gt; Integrations/, 'where to go in Cliniko');
  t.match(textOf(page.body), /custom patient button ?: name it Open in Sidechart/, 'what to add there');
  t.match(page.body, /<script src="\/assets\/copy\.js" defer><\/script>/, 'the script is a served file');
  t.notMatch(page.body, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
  t.notMatch(page.body, /\son[a-z]+=/i, 'no inline event handler');
  t.equal(page.header('content-security-policy'), STRICT_CSP, 'the CSP is unchanged: scripts from this origin only');

  const script = await app.admin.get(`${app.origin}/assets/copy.js`);
  t.equal(script.status, 200);
  t.match(script.header('content-type'), /^text\/javascript/);
  t.match(script.body, /navigator\.clipboard\.writeText/);
  t.equal(script.header('x-content-type-options'), 'nosniff');

  // A Host the request chose does not change the URL: only configuration does.
  const spoofed = await app.admin.get(`${app.origin}/admin/button`, { headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' } });
  t.equal(urlField(spoofed.body), `http://acme.localhost:${app.config.publicPort}/patients`, 'forwarded headers from an untrusted peer are ignored');
});

t.test('try it: none held yet, then the patient opened most recently', async (t) => {
  const app = await startAdminApp(t);
  const before = await app.admin.get(`${app.origin}/admin/button`);
  t.match(textOf(before.body), /Sidechart holds no patient yet/, 'says why there is no link');
  t.notMatch(before.body, /id="try-it"/);

  t.equal((await app.view(EXAMPLE_ID)).status, 200);
  t.equal((await app.view(MAX_ID)).status, 200);
  t.equal((await app.view('424242')).status, 404, 'a patient Cliniko does not have is not held');
  const after = await app.admin.get(`${app.origin}/admin/button`);
  t.match(after.body, new RegExp(`<a href="/patients\\?patient_id=${MAX_ID}" id="try-it">`), 'the held patient opened last');

  const opened = await app.admin.get(`${app.origin}/patients?patient_id=${MAX_ID}`);
  t.equal(opened.status, 200, 'the link opens the patient for the admin');
  // An older view is not chosen over a newer one, whoever made it.
  await app.clinic.db.insertInto('audit_events').values({ action: 'view', outcome: 'shown', user_id: app.user.id, patient_id: EXAMPLE_ID, occurred_at: sql<Date>`now() + interval '1 minute'`, client_ip: null, user_agent: null, sec_fetch_site: null, referrer: null }).execute();
  const later = await app.admin.get(`${app.origin}/admin/button`);
  t.match(later.body, new RegExp(`<a href="/patients\\?patient_id=${EXAMPLE_ID}" id="try-it">`));
});

t.test('production behind HTTPS: https and no port', async (t) => {
  const app = await startHttpsClinic(t);
  await addUser(app.runtime, 'acme', { email: 'admin@acme.example', role: 'admin' });
  const origin = app.origin('acme');
  t.equal((await signInWithPassword(app.http, origin, 'admin@acme.example')).status, 303);
  const page = await app.http.get(`${origin}/admin/button`);
  t.equal(page.status, 200);
  t.equal(urlField(page.body), 'https://acme.localhost/patients');
});

t.test('several base domains: the one the admin came in on', async (t) => {
  const app = await startAdminApp(t, { env: { BASE_DOMAIN: 'localhost,sidechart.localhost' } });
  const port = app.config.publicPort;
  t.equal(urlField((await app.admin.get(`${app.origin}/admin/button`)).body), `http://acme.localhost:${port}/patients`);
  const otherOrigin = `http://acme.sidechart.localhost:${app.port}`;
  const browser = app.newClient();
  t.equal((await signIn(browser, otherOrigin, app.adminUser.email)).status, 303);
  t.equal(urlField((await browser.get(`${otherOrigin}/admin/button`)).body), `http://acme.sidechart.localhost:${port}/patients`);
});
