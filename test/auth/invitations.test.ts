// Accepting an invitation on the clinic's host: a name and a password (the hasher's rules), then
// signed in with the invited role; the link is single-use, expires, is withdrawn when replaced,
// works only at its own clinic; at a clinic that signs in only with SSO the invitee is sent to
// sign in with it, and the SSO admission rule links that first sign-in to the invited account.
import t from 'tap';
import { acceptInvitation, createInvitation, hashInvitationToken } from '../../src/auth/invitations.ts';
import { admitSsoUser } from '../../src/auth/sso/accounts.ts';
import { updateAuthSettings } from '../../src/auth/settings.ts';
import { toSessionUser } from '../../src/auth/users.ts';
import type { Role } from '../../src/auth/tables.ts';
import { csrfTokenIn, signInWithPassword } from '../helpers/fixtures.ts';
import { auditOf, startStaffApp, type StaffApp } from '../admin/staff-fixture.ts';

const NEW_PASSWORD = 'a long enough password';
const origin = { clientIp: '127.0.0.1', userAgent: 'tap', secFetchSite: null, referrer: null, requestId: null };

async function invite(app: StaffApp, email: string, role: Role = 'staff') {
  const admin = await app.db.selectFrom('users').selectAll().where('id', '=', app.adminId).executeTakeFirstOrThrow();
  const tenant = await app.runtime.clinics.open('acme', { for: 'operator' });
  const result = await createInvitation(app.db, { tenantId: tenant.tenant.id, email, role, invitedBy: toSessionUser(admin), ttlHours: 168, origin });
  if (!result.ok) throw new Error(result.message);
  return { ...result, path: `${app.origin('acme')}/invitations/accept?token=${result.token}`, tenantId: tenant.tenant.id };
}

t.test('accept with a password: signed in as staff; the link cannot be used again', async (t) => {
  const app = await startStaffApp(t);
  const { path, token } = await invite(app, 'new@acme.example');
  const browser = app.newClient();
  const page = await browser.get(path);
  t.equal(page.status, 200);
  t.equal(page.header('cache-control'), 'no-store');
  t.match(page.body, /Ann Admin invited <strong id="invited-email">new@acme.example<\/strong>/);
  t.match(page.body, /<label for="password">Choose a password<\/label>/);
  t.notMatch(page.body, /<script/);
  const csrf = csrfTokenIn(page);

  const accepted = await browser.post(`${app.origin('acme')}/invitations/accept`, { token, name: '  Nia New ', password: NEW_PASSWORD, password_confirm: NEW_PASSWORD, _csrf: csrf });
  t.equal(accepted.status, 303);
  t.equal(accepted.redirectUrl, `${app.origin('acme')}/`);
  const me = (await browser.get(`${app.origin('acme')}/__test/whoami`, { headers: { accept: 'application/json' } })).json() as { user: { email: string; name: string; role: string } };
  t.match(me.user, { email: 'new@acme.example', name: 'Nia New', role: 'staff' }, 'signed in as the new staff member');
  t.equal((await browser.get(`${app.origin('acme')}/admin/staff`)).status, 403, 'staff, not admin');
  t.equal((await signInWithPassword(app.newClient(), app.origin('acme'), 'new@acme.example', NEW_PASSWORD)).status, 303, 'the password works for a later sign-in');

  const [event] = await auditOf(app.db, 'invitation_accepted');
  t.ok(event, 'audited');
  t.match(event?.detail, /new@acme.example joined as staff .*password/);

  const reused = await app.newClient().get(path);
  t.equal(reused.status, 410);
  t.match(reused.body, /already been used/);
  const other = app.newClient();
  const reusePost = await other.post(`${app.origin('acme')}/invitations/accept`, { token, name: 'Mallory', password: NEW_PASSWORD, password_confirm: NEW_PASSWORD, _csrf: csrfTokenIn(await other.get(`${app.origin('acme')}/login`)) });
  t.equal(reusePost.status, 410, 'a second acceptance is refused');
  t.equal((await app.db.selectFrom('users').select('id').where('email', '=', 'new@acme.example').execute()).length, 1);
});

t.test('an admin invitation makes an admin', async (t) => {
  const app = await startStaffApp(t);
  const { path, token } = await invite(app, 'boss@acme.example', 'admin');
  const browser = app.newClient();
  const csrf = csrfTokenIn(await browser.get(path));
  t.equal((await browser.post(`${app.origin('acme')}/invitations/accept`, { token, name: 'Boss', password: NEW_PASSWORD, password_confirm: NEW_PASSWORD, _csrf: csrf })).status, 303);
  t.equal((await browser.get(`${app.origin('acme')}/admin/staff`)).status, 200);
});

t.test('validation: each problem next to its field, the name kept, nothing created', async (t) => {
  const app = await startStaffApp(t);
  const { path, token } = await invite(app, 'new@acme.example');
  const browser = app.newClient();
  const csrf = csrfTokenIn(await browser.get(path));
  const cases: [Record<string, string>, RegExp][] = [
    [{ name: '', password: NEW_PASSWORD, password_confirm: NEW_PASSWORD }, /id="name-error">Enter your name/],
    [{ name: 'x'.repeat(201), password: NEW_PASSWORD, password_confirm: NEW_PASSWORD }, /id="name-error">Your name can have at most 200/],
    [{ name: 'Nia', password: 'short', password_confirm: 'short' }, /id="password-error">Choose another password: a password needs at least 10 characters/],
    [{ name: 'Nia', password: NEW_PASSWORD, password_confirm: 'something else' }, /id="password_confirm-error">The two passwords are not the same/],
  ];
  for (const [body, message] of cases) {
    const response = await browser.post(`${app.origin('acme')}/invitations/accept`, { ...body, token, _csrf: csrf });
    t.equal(response.status, 422, JSON.stringify(body).slice(0, 60));
    t.match(response.body, message);
    t.match(response.body, /aria-invalid="true"/);
    t.ok(response.body.includes(`value="${body.name}"`), 'the name typed is kept');
    t.notOk(response.body.includes(NEW_PASSWORD), 'the password is not echoed');
  }
  t.equal((await app.db.selectFrom('users').select('id').where('email', '=', 'new@acme.example').execute()).length, 0);
  t.equal((await browser.post(`${app.origin('acme')}/invitations/accept`, { token, name: 'Nia', password: NEW_PASSWORD, password_confirm: NEW_PASSWORD })).status, 403, 'CSRF token missing');
  t.equal((await app.db.selectFrom('users').select('id').where('email', '=', 'new@acme.example').execute()).length, 0);
});

t.test('expired (the expiry moved in the database), unknown and withdrawn links are refused', async (t) => {
  const app = await startStaffApp(t);
  const { path, token, invitation } = await invite(app, 'late@acme.example');
  const browser = app.newClient();
  const csrf = csrfTokenIn(await browser.get(path));
  await app.db.updateTable('invitations').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', invitation.id).execute();
  const expired = await browser.get(path);
  t.equal(expired.status, 410);
  t.match(expired.body, /This invitation has expired/);
  const post = await browser.post(`${app.origin('acme')}/invitations/accept`, { token, name: 'Late', password: NEW_PASSWORD, password_confirm: NEW_PASSWORD, _csrf: csrf });
  t.equal(post.status, 410);
  t.equal((await app.db.selectFrom('users').select('id').where('email', '=', 'late@acme.example').execute()).length, 0);

  t.equal((await browser.get(`${app.origin('acme')}/invitations/accept?token=${'A'.repeat(43)}`)).status, 404);
  t.equal((await browser.get(`${app.origin('acme')}/invitations/accept`)).status, 404);

  const again = await invite(app, 'late@acme.example');
  const first = await invite(app, 'other@acme.example');
  await invite(app, 'other@acme.example');
  t.equal((await browser.get(first.path)).status, 410, 'replaced by a newer invitation');
  t.equal((await browser.get(again.path)).status, 200, 'a new invitation after expiry works');
});

t.test("another clinic's token is refused", async (t) => {
  const app = await startStaffApp(t);
  await app.runtime.tenants.create({ slug: 'other', displayName: 'Other Clinic' });
  const { token, tenantId } = await invite(app, 'new@acme.example');
  const browser = app.newClient();
  const atOther = await browser.get(`${app.origin('other')}/invitations/accept?token=${token}`);
  t.equal(atOther.status, 404);
  t.match(atOther.body, /not valid here/);
  const csrf = csrfTokenIn(await browser.get(`${app.origin('other')}/login`));
  const post = await browser.post(`${app.origin('other')}/invitations/accept`, { token, name: 'X', password: NEW_PASSWORD, password_confirm: NEW_PASSWORD, _csrf: csrf });
  t.equal(post.status, 404);
  // Even the stored hash copied into the other clinic would not match there: the clinic is in the hash.
  const other = await app.runtime.clinics.open('other', { for: 'operator' });
  t.not(hashInvitationToken(other.tenant.id, token), hashInvitationToken(tenantId, token));
  t.equal((await other.db.selectFrom('users').select('id').execute()).length, 0);
});

t.test('two acceptances of one link at once create one account', async (t) => {
  const app = await startStaffApp(t);
  const { token, tenantId } = await invite(app, 'twice@acme.example');
  const results = await Promise.all([1, 2].map((n) => acceptInvitation(app.db, { tenantId, token, name: `Try ${n}`, passwordHash: null, origin })));
  t.same(results.map((r) => r.ok).sort(), [false, true]);
  t.match(results.find((r) => !r.ok), { status: 'used' });
  t.equal((await app.db.selectFrom('users').select('id').where('email', '=', 'twice@acme.example').execute()).length, 1);
  t.equal((await auditOf(app.db, 'invitation_accepted')).length, 1);
});

t.test('a clinic that signs in only with SSO: no password; told to sign in with it; admission links the account', async (t) => {
  const app = await startStaffApp(t);
  await updateAuthSettings(app.db, { passwordEnabled: false });
  const { path, token } = await invite(app, 'sso@acme.example');
  const browser = app.newClient();
  const page = await browser.get(path);
  t.equal(page.status, 200);
  t.notMatch(page.body, /type="password"/, 'no password to choose');
  t.match(page.body, /signs in with single sign-on/);
  const done = await browser.post(`${app.origin('acme')}/invitations/accept`, { token, name: 'Sso Person', _csrf: csrfTokenIn(page) });
  t.equal(done.status, 200);
  t.match(done.body, /id="sso-next-step">Your account is ready. Sign in with single sign-on using your account for <strong>sso@acme.example/);
  const user = await app.db.selectFrom('users').selectAll().where('email', '=', 'sso@acme.example').executeTakeFirstOrThrow();
  t.equal(user.password_hash, null);
  t.equal(user.name, 'Sso Person');

  // The first single sign-on with that verified e-mail is admitted as "invited" and linked to it.
  const admitted = await admitSsoUser(
    app.db,
    { issuer: 'https://login.acme.example', subject: 'sub-1', email: 'SSO@acme.example', emailVerified: true, name: 'S' },
    { admit: 'invited', allowedEmailDomains: [] },
  );
  t.same(admitted, { admitted: true, userId: user.id, outcome: 'link' });
  const before = await admitSsoUser(
    app.db,
    { issuer: 'https://login.acme.example', subject: 'sub-2', email: 'pending@acme.example', emailVerified: true, name: 'P' },
    { admit: 'invited', allowedEmailDomains: [] },
  );
  t.same(before, { admitted: false, reason: 'not_admitted' }, 'an invitation not yet accepted admits nobody');
});
