// The admin area's Staff section over real HTTP: the list, invitations (link shown, e-mail through a
// real SMTP server on loopback), role changes, disabling (the user's session ends), removing, the
// last-admin rule (also under two concurrent demotions), CSRF, staff and anonymous refused, and an
// audit event for every change.
import t from 'tap';
import { sql } from 'kysely';
import { changeStaff } from '../../src/auth/users.ts';
import { addUser, authChangesSettled, csrfTokenIn } from '../helpers/fixtures.ts';
import { ADMIN_EMAIL, auditOf, linkIn, mailText, startSmtpServer, startStaffApp } from './staff-fixture.ts';

t.test('the list: name, e-mail, role, status and how each signs in', async (t) => {
  const app = await startStaffApp(t);
  await addUser(app.runtime, 'acme', { email: 'sam@acme.example', name: 'Sam Staff' });
  const sso = await addUser(app.runtime, 'acme', { email: 'ola@acme.example', name: 'Ola', password: null });
  await app.db.insertInto('user_identities').values({ user_id: sso.id, issuer: 'https://login.acme.example', subject: 'ola' }).execute();
  const page = await app.staffPage();
  t.equal(page.status, 200);
  for (const text of ['Ann Admin', ADMIN_EMAIL, 'Administrator', 'Sam Staff', 'sam@acme.example', 'Staff', 'Active', 'Password', 'Single sign-on (login.acme.example)']) {
    t.ok(page.body.includes(text), `shows ${text}`);
  }
  t.match(page.body, /<label for="role-\d+">Role of sam@acme.example<\/label>/, 'each control has a label');
  t.notMatch(page.body, /<script/, 'no script on the page');
});

t.test('invite: the link is shown, and e-mailed through SMTP; audited; validation keeps input', async (t) => {
  const smtp = await startSmtpServer(t);
  const app = await startStaffApp(t, { env: { SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtp.port), MAIL_FROM: 'Sidechart <no-reply@sidechart.test>' } });
  const { token } = await app.staffPage();
  const url = `${app.origin('acme')}/admin/staff/invitations`;

  const invited = await app.admin.post(url, { email: ' New.Person@Acme.Example ', role: 'staff', _csrf: token });
  t.equal(invited.status, 201);
  const link = linkIn(invited.body);
  // PUBLIC_PORT defaults to PORT (3000): the link names configuration, not the test's socket.
  t.match(link, /^http:\/\/acme\.localhost:3000\/invitations\/accept\?token=[A-Za-z0-9_-]{43}$/, 'a link on the clinic host built from configuration');
  t.match(invited.body, /id="mail-status">An e-mail with the link was sent to new.person@acme.example/);

  const [mail] = await smtp.messages(1);
  t.same(mail!.to, ['new.person@acme.example']);
  t.equal(mail!.from, 'no-reply@sidechart.test');
  t.ok(mailText(mail!.raw).includes(link), 'the e-mail carries the same link');
  t.match(mail!.raw, /Subject: Join Acme Physio on Sidechart/);

  const stored = await app.db.selectFrom('invitations').selectAll().execute();
  t.equal(stored.length, 1);
  t.equal(stored[0]!.email, 'new.person@acme.example');
  t.notOk(JSON.stringify(stored).includes(new URL(link).searchParams.get('token')!), 'only a hash of the token is stored');
  const days = (stored[0]!.expires_at.getTime() - Date.now()) / 86_400_000;
  t.ok(days > 6.9 && days <= 7, 'expires in 7 days by default');

  const events = await auditOf(app.db, 'staff_invited');
  t.equal(events.length, 1);
  t.equal(events[0]!.user_id, app.adminId, 'who');
  t.match(events[0]!.detail, /invited new.person@acme.example as staff/, 'what');

  const list = await app.staffPage();
  t.match(list.body, /id="invitation-\d+">\s*<td>new.person@acme.example<\/td>/, 'listed as pending');

  // Validation: the message next to the field, the input kept.
  const cases: [Record<string, string>, RegExp][] = [
    [{ email: '', role: 'admin' }, /id="invite-email-error">Enter the e-mail address/],
    [{ email: 'not an address', role: 'admin' }, /id="invite-email-error">Enter an e-mail address, like/],
    [{ email: ADMIN_EMAIL, role: 'admin' }, /id="invite-email-error">ann@acme.example already has an account/],
    [{ email: 'x@acme.example', role: 'owner' }, /id="invite-role-error">Choose Staff or Administrator/],
  ];
  for (const [body, message] of cases) {
    const response = await app.admin.post(url, { ...body, _csrf: list.token });
    t.equal(response.status, 422, JSON.stringify(body));
    t.match(response.body, message);
    t.match(response.body, /aria-invalid="true"/);
    if (body.email) t.ok(response.body.includes(`value="${body.email}"`), 'the e-mail typed is kept');
  }
  t.match((await app.admin.post(url, { email: 'y@acme.example', role: 'admin', _csrf: list.token })).body, /invited as Administrator/);
  t.equal((await auditOf(app.db, 'staff_invited')).length, 2, 'refused invitations are not events');

  // A relay that refuses the address: the admin still gets the link, and is told.
  const bounced = await app.admin.post(url, { email: 'bounce@acme.example', role: 'staff', _csrf: list.token });
  t.equal(bounced.status, 201);
  t.match(bounced.body, /id="mail-status">The e-mail could not be sent/);
  t.ok(linkIn(bounced.body).includes('token='));
});

t.test('without SMTP the link is shown and nothing is sent; inviting again replaces the old link; withdraw', async (t) => {
  const app = await startStaffApp(t);
  const { token } = await app.staffPage();
  const url = `${app.origin('acme')}/admin/staff/invitations`;
  const first = await app.admin.post(url, { email: 'kim@acme.example', role: 'staff', _csrf: token });
  t.match(first.body, /id="mail-status">Sidechart does not send e-mail here/);
  const second = await app.admin.post(url, { email: 'kim@acme.example', role: 'staff', _csrf: token });
  const anon = app.newClient();
  t.equal((await anon.get(app.local(linkIn(first.body)))).status, 410, 'the first link was replaced');
  t.equal((await anon.get(app.local(linkIn(second.body)))).status, 200);

  const pending = await app.db.selectFrom('invitations').select('id').where('revoked_at', 'is', null).executeTakeFirstOrThrow();
  const revoked = await app.admin.post(`${app.origin('acme')}/admin/staff/invitations/${pending.id}/revoke`, { _csrf: token });
  t.equal(revoked.status, 303);
  t.equal((await anon.get(app.local(linkIn(second.body)))).status, 410, 'withdrawn');
  t.equal((await auditOf(app.db, 'invitation_revoked')).length, 1);
  t.equal((await app.admin.post(`${app.origin('acme')}/admin/staff/invitations/${pending.id}/revoke`, { _csrf: token })).status, 409);
});

t.test('role change: audited, and the user signs in again with the new role', async (t) => {
  const app = await startStaffApp(t);
  const sam = await addUser(app.runtime, 'acme', { email: 'sam@acme.example', name: 'Sam' });
  const samBrowser = await app.signedIn('sam@acme.example');
  const { token } = await app.staffPage();
  const response = await app.admin.post(`${app.origin('acme')}/admin/staff/${sam.id}/role`, { role: 'admin', _csrf: token });
  t.equal(response.status, 303);
  t.equal(response.redirectUrl, `${app.origin('acme')}/admin/staff?done=role`);
  t.match((await app.admin.get(response.redirectUrl!)).body, /Role changed/);
  t.equal((await app.db.selectFrom('users').select('role').where('id', '=', sam.id).executeTakeFirstOrThrow()).role, 'admin');
  const [event] = await auditOf(app.db, 'staff_role_changed');
  t.equal(event?.user_id, app.adminId);
  t.match(event?.detail, /role of sam@acme.example: staff -> admin/);

  await authChangesSettled(app.runtime);
  t.equal((await samBrowser.get(`${app.origin('acme')}/__test/whoami`)).status, 303, 'a privilege change ends the old session');
  const again = await app.signedIn('sam@acme.example');
  t.equal((await again.get(`${app.origin('acme')}/admin/staff`)).status, 200, 'now an admin');

  const bad = await app.admin.post(`${app.origin('acme')}/admin/staff/${sam.id}/role`, { role: 'owner', _csrf: token });
  t.equal(bad.status, 422);
  const same = await app.admin.post(`${app.origin('acme')}/admin/staff/${sam.id}/role`, { role: 'admin', _csrf: token });
  t.equal(same.status, 303);
  t.equal((await auditOf(app.db, 'staff_role_changed')).length, 1, 'no change, no event');
});

t.test('disable ends their session at once; enable lets them back', async (t) => {
  const app = await startStaffApp(t);
  const sam = await addUser(app.runtime, 'acme', { email: 'sam@acme.example', name: 'Sam' });
  const samBrowser = await app.signedIn('sam@acme.example');
  const whoami = `${app.origin('acme')}/__test/whoami`;
  t.equal((await samBrowser.get(whoami)).status, 200, 'signed in (and cached)');

  const { token } = await app.staffPage();
  const disabled = await app.admin.post(`${app.origin('acme')}/admin/staff/${sam.id}/disable`, { _csrf: token });
  t.equal(disabled.status, 303);
  await authChangesSettled(app.runtime);
  const after = await samBrowser.get(whoami);
  t.equal(after.status, 303, 'their session has ended');
  t.equal(after.redirectUrl, `${app.origin('acme')}/login`);
  const rows = await app.db.selectFrom('sessions').select('id').where(sql<string>`data->>'userId'`, '=', sam.id).execute();
  t.equal(rows.length, 0, 'their session rows are gone');
  t.equal((await app.newClient().post(`${app.origin('acme')}/login`, {})).status >= 400, true);
  t.match((await app.staffPage()).body, new RegExp(`id="user-${sam.id}">[\\s\\S]*?Disabled`));

  const enabled = await app.admin.post(`${app.origin('acme')}/admin/staff/${sam.id}/enable`, { _csrf: token });
  t.equal(enabled.status, 303);
  await app.signedIn('sam@acme.example');
  t.same((await auditOf(app.db, 'staff_disabled', 'staff_enabled')).map((e) => [e.action, e.user_id]), [['staff_disabled', app.adminId], ['staff_enabled', app.adminId]]);
});

t.test('remove: confirmation page, the account and its sessions go, audited', async (t) => {
  const app = await startStaffApp(t);
  const sam = await addUser(app.runtime, 'acme', { email: 'sam@acme.example', name: 'Sam' });
  const samBrowser = await app.signedIn('sam@acme.example');
  const confirm = await app.admin.get(`${app.origin('acme')}/admin/staff/${sam.id}/remove`);
  t.equal(confirm.status, 200);
  t.match(confirm.body, /Remove Sam\?/);
  const removed = await app.admin.post(`${app.origin('acme')}/admin/staff/${sam.id}/remove`, { _csrf: csrfTokenIn(confirm) });
  t.equal(removed.status, 303);
  t.notOk(await app.db.selectFrom('users').select('id').where('id', '=', sam.id).executeTakeFirst());
  await authChangesSettled(app.runtime);
  t.equal((await samBrowser.get(`${app.origin('acme')}/__test/whoami`)).status, 303, 'their session has ended');
  const [event] = await auditOf(app.db, 'staff_removed');
  t.equal(event?.user_id, app.adminId);
  t.match(event?.detail, /removed sam@acme.example/);
  const again = await app.admin.post(`${app.origin('acme')}/admin/staff/${sam.id}/remove`, { _csrf: csrfTokenIn(confirm) });
  t.equal(again.status, 404, 'already gone');
});

t.test('the last enabled admin can be neither demoted, disabled nor removed', async (t) => {
  const app = await startStaffApp(t);
  // A disabled admin does not count.
  await addUser(app.runtime, 'acme', { email: 'old@acme.example', role: 'admin' }).then((u) => app.db.updateTable('users').set({ disabled: true }).where('id', '=', u.id).execute());
  const { token } = await app.staffPage();
  for (const [path, body, word] of [['role', { role: 'staff' }, 'demoted'], ['disable', {}, 'disabled'], ['remove', {}, 'removed']] as const) {
    const response = await app.admin.post(`${app.origin('acme')}/admin/staff/${app.adminId}/${path}`, { ...body, _csrf: token });
    t.equal(response.status, 409, path);
    t.match(response.body, new RegExp(`id="staff-error">ann@acme.example is the clinic&#39;s last enabled administrator and cannot be ${word}`));
  }
  const ann = await app.db.selectFrom('users').selectAll().where('id', '=', app.adminId).executeTakeFirstOrThrow();
  t.equal(ann.role, 'admin');
  t.equal(ann.disabled, false);
  t.equal((await auditOf(app.db, 'staff_role_changed', 'staff_disabled', 'staff_removed')).length, 0, 'nothing changed, nothing audited');
});

t.test('with passwords off, the last admin who can still sign in (by a linked provider) can be neither disabled nor demoted', async (t) => {
  const app = await startStaffApp(t);
  const issuer = 'https://login.acme.example';
  // Two enabled admins: Ann (signed in here, linked to the clinic's own provider) and Bob (a
  // password only). With passwords off, only Ann can still sign in.
  const bob = await addUser(app.runtime, 'acme', { email: 'bob@acme.example', role: 'admin' });
  await app.db.insertInto('user_identities').values({ user_id: app.adminId, issuer, subject: 'ann' }).execute();
  await app.db.updateTable('auth_settings').set({ password_enabled: false, oidc_issuer: issuer, oidc_client_id: 'sidechart', oidc_client_secret_sealed: 'unused-here' }).execute();
  const { token } = await app.staffPage();
  for (const [path, body, word] of [['role', { role: 'staff' }, 'demoted'], ['disable', {}, 'disabled'], ['remove', {}, 'removed']] as const) {
    const response = await app.admin.post(`${app.origin('acme')}/admin/staff/${app.adminId}/${path}`, { ...body, _csrf: token });
    t.equal(response.status, 409, `${path}: refused`);
    t.match(response.body, new RegExp(`ann@acme.example cannot be ${word}: no other administrator could sign in`), `${path}: with the reason`);
  }
  // Bob (who could not sign in anyway) may be disabled: Ann still can.
  const disabled = await app.admin.post(`${app.origin('acme')}/admin/staff/${bob.id}/disable`, { _csrf: token });
  t.equal(disabled.status, 303, 'another admin may be disabled while one who can sign in remains');
  t.equal((await app.db.selectFrom('users').select('role').where('id', '=', app.adminId).executeTakeFirstOrThrow()).role, 'admin', 'Ann is still an admin');
});

t.test('two last admins demoted at once: exactly one succeeds', async (t) => {
  const app = await startStaffApp(t);
  const bob = await addUser(app.runtime, 'acme', { email: 'bob@acme.example', role: 'admin' });
  const bobBrowser = await app.signedIn('bob@acme.example');
  const annToken = (await app.staffPage()).token;
  const bobToken = csrfTokenIn(await bobBrowser.get(`${app.origin('acme')}/admin/staff`));
  // Over HTTP, each demoting the other at the same moment.
  const results = await Promise.all([
    app.admin.post(`${app.origin('acme')}/admin/staff/${bob.id}/role`, { role: 'staff', _csrf: annToken }),
    bobBrowser.post(`${app.origin('acme')}/admin/staff/${app.adminId}/role`, { role: 'staff', _csrf: bobToken }),
  ]);
  t.same(results.map((r) => r.status).sort(), [303, 409]);
  const admins = await app.db.selectFrom('users').select('email').where('role', '=', 'admin').execute();
  t.equal(admins.length, 1, 'one admin is left');

  // And deterministically: the second transaction waits for the first's lock, then sees its commit.
  const carl = await addUser(app.runtime, 'acme', { email: 'carl@acme.example', role: 'admin' });
  const remaining = (await app.db.selectFrom('users').select('id').where('role', '=', 'admin').where('id', '!=', carl.id).executeTakeFirstOrThrow()).id;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let firstChanged!: () => void;
  const changed = new Promise<void>((resolve) => (firstChanged = resolve));
  const first = app.db.transaction().execute(async (trx) => {
    await changeStaff(trx, carl.id, { kind: 'role', role: 'staff' });
    firstChanged();
    await gate;
  });
  await changed;
  let secondSettled = false;
  const second = app.db.transaction().execute((trx) => changeStaff(trx, remaining, { kind: 'disable' })).finally(() => (secondSettled = true));
  second.catch(() => {});
  // The second is blocked on the first's row locks while the first is open.
  await app.db.selectFrom('users').select('id').execute();
  t.equal(secondSettled, false, 'the second waits for the first');
  release();
  await first;
  await t.rejects(second, { code: 'last_admin' }, 'then sees one admin left and is refused');
});

t.test('CSRF: a POST without a token, or with a wrong one, is refused and changes nothing', async (t) => {
  const app = await startStaffApp(t);
  const sam = await addUser(app.runtime, 'acme', { email: 'sam@acme.example' });
  const base = `${app.origin('acme')}/admin/staff`;
  for (const [path, body] of [
    ['/invitations', { email: 'z@acme.example', role: 'staff' }],
    [`/${sam.id}/role`, { role: 'admin' }],
    [`/${sam.id}/disable`, {}],
    [`/${sam.id}/enable`, {}],
    [`/${sam.id}/remove`, {}],
    ['/invitations/1/revoke', {}],
  ] as const) {
    t.equal((await app.admin.post(`${base}${path}`, body)).status, 403, `${path} without a token`);
    t.equal((await app.admin.post(`${base}${path}`, { ...body, _csrf: 'forged' })).status, 403, `${path} with a wrong token`);
  }
  const after = await app.db.selectFrom('users').selectAll().where('id', '=', sam.id).executeTakeFirstOrThrow();
  t.equal(after.role, 'staff');
  t.equal(after.disabled, false);
  t.equal((await app.db.selectFrom('invitations').select('id').execute()).length, 0);
});

t.test('staff get a 403 on every staff admin route; anonymous visitors are sent to sign in', async (t) => {
  const app = await startStaffApp(t);
  const sam = await addUser(app.runtime, 'acme', { email: 'sam@acme.example' });
  const samBrowser = await app.signedIn('sam@acme.example');
  const token = ((await samBrowser.get(`${app.origin('acme')}/__test/csrf`, { headers: { accept: 'application/json' } })).json() as { token: string }).token;
  const base = `${app.origin('acme')}/admin/staff`;
  for (const path of ['', `/${app.adminId}/remove`]) {
    const page = await samBrowser.get(`${base}${path}`);
    t.equal(page.status, 403, `GET ${path || '/'}`);
    t.match(page.body, /Only clinic administrators/);
    const anon = await app.newClient().get(`${base}${path}`);
    t.equal(anon.status, 303, `anonymous GET ${path || '/'}`);
    t.equal(anon.redirectUrl, `${app.origin('acme')}/login`);
  }
  for (const [path, body] of [
    ['/invitations', { email: 'z@acme.example', role: 'admin' }],
    [`/${sam.id}/role`, { role: 'admin' }],
    [`/${app.adminId}/role`, { role: 'staff' }],
    [`/${app.adminId}/disable`, {}],
    [`/${app.adminId}/enable`, {}],
    [`/${app.adminId}/remove`, {}],
    ['/invitations/1/revoke', {}],
  ] as const) {
    t.equal((await samBrowser.post(`${base}${path}`, { ...body, _csrf: token })).status, 403, `POST ${path}`);
  }
  t.equal((await app.db.selectFrom('users').select('role').where('id', '=', sam.id).executeTakeFirstOrThrow()).role, 'staff');
  t.equal((await app.db.selectFrom('invitations').select('id').execute()).length, 0);
  t.equal((await auditOf(app.db)).length, 0, 'no event: nothing changed');
});
