// Who may open the admin area: the clinic's admins see every page; staff get a 403 page on each;
// a visitor who is not signed in is sent to sign in and comes back to the page (and query) they
// asked for; another host has no admin area.
import t from 'tap';
import { signIn } from '../helpers/patients.ts';
import { startAdminApp } from './admin-app.ts';

const PAGES = ['/admin', '/admin/', '/admin/button', '/admin/cliniko', '/admin/sign-in', '/admin/staff', '/admin/audit', '/admin/audit?action=view', '/admin/audit.csv'];

t.test('an admin sees each page; staff get a 403 page on each', async (t) => {
  const app = await startAdminApp(t);
  for (const path of PAGES) {
    const asAdmin = await app.admin.get(`${app.origin}${path}`);
    t.equal(asAdmin.status, 200, `admin: ${path}`);
    t.equal(asAdmin.header('cache-control'), 'no-store', `admin: ${path} is not cached`);
    const asStaff = await app.http.get(`${app.origin}${path}`);
    t.equal(asStaff.status, 403, `staff: ${path}`);
    t.match(asStaff.body, /Only clinic administrators can open this page/, `staff: ${path} says why`);
    t.notMatch(asStaff.body, /sam@acme\.example|Audit trail|The URL to paste/, `staff: ${path} shows nothing of the admin page`);
  }
  const index = await app.admin.get(`${app.origin}/admin`);
  for (const [href, label] of [['/admin/button', 'The button'], ['/admin/cliniko', 'Cliniko'], ['/admin/sign-in', 'Sign-in'], ['/admin/staff', 'Staff'], ['/admin/audit', 'Audit']]) {
    t.match(index.body, new RegExp(`<a href="${href}">${label}</a>`), `the index links ${label}`);
  }
  const events = await app.clinic.db.selectFrom('audit_events').select('action').where('user_id', '=', app.user.id).execute();
  t.same(events, [], 'the refused staff requests showed nothing, so they recorded no look at the trail');
});

t.test('not signed in: the sign-in page, then back to exactly the page asked for', async (t) => {
  const app = await startAdminApp(t);
  for (const path of ['/admin', '/admin/button', '/admin/audit?action=view&from=2026-11-01', '/admin/audit.csv?patient_id=836447129235883061']) {
    const browser = app.newClient();
    const first = await browser.get(`${app.origin}${path}`);
    t.equal(first.status, 303, `${path}: redirected`);
    t.equal(first.redirectUrl, `${app.origin}/login`, `${path}: to the clinic's sign-in page`);
    const signedIn = await signIn(browser, app.origin, app.adminUser.email);
    t.equal(signedIn.status, 303);
    t.equal(signedIn.redirectUrl, `${app.origin}${path}`, `${path}: back to it after signing in`);
    t.equal((await browser.get(signedIn.redirectUrl!)).status, 200, `${path}: and it opens`);
  }
  const anonymous = app.newClient();
  t.equal((await anonymous.request('HEAD', `${app.origin}/admin/audit`)).status, 303, 'HEAD learns where it would go');
});

t.test('no admin area on the platform host or for another clinic’s admin', async (t) => {
  const app = await startAdminApp(t);
  const platform = await app.admin.get(`http://localhost:${app.port}/admin`);
  t.equal(platform.status, 404, 'the platform host has no admin area');
  await app.runtime.tenants.create({ slug: 'other', displayName: 'Other Clinic' });
  const otherOrigin = `http://other.localhost:${app.port}`;
  const replayed = await app.admin.get(`${otherOrigin}/admin/audit`, { headers: { cookie: app.admin.cookieHeader(app.origin) } });
  t.equal(replayed.status, 303, 'acme’s admin session is nobody at another clinic');
  t.equal(replayed.redirectUrl, `${otherOrigin}/login`);
});
