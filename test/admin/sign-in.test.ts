// /admin/sign-in: the clinic's sign-in settings from the browser. The current settings are shown,
// each change is saved and audited, the clinic's own provider is checked against a real issuer
// (oidc-provider on loopback) and refused when nothing or something else answers there, the client
// secret never comes back (page, trail), a change that would lock every admin out is refused with
// the reason and changes nothing, and only admins with a CSRF token can save.
import t from 'tap';
import { csrfTokenIn, textOf } from '../helpers/patients.ts';
import { freePort } from '../helpers/net.ts';
import { startOidcProvider } from '../helpers/oidc-provider.ts';
import { clientSecretAad } from '../../src/auth/sso/settings.ts';
import { oidcRedirectUris } from '../../src/auth/sso/clinic/clinic-host-routes.ts';
import { startAdminApp, type AdminTestApp } from './admin-app.ts';

const SECRET = 'client-secret-0f3c9d7a1b2e';
const PLATFORM = JSON.stringify([{ id: 'acmeid', name: 'AcmeID', issuer: 'http://127.0.0.1:9', clientId: 'c', clientSecret: 's' }]);

async function settingsOf(app: AdminTestApp) {
  return app.clinic.db.selectFrom('auth_settings').selectAll().executeTakeFirstOrThrow();
}

async function trail(app: AdminTestApp) {
  return app.clinic.db.selectFrom('audit_events').select(['action', 'user_id', 'detail']).where('action', '=', 'sign_in_settings_changed').orderBy('id').execute();
}

async function startIssuer(t: { teardown(fn: () => unknown): void }, redirectUri: string) {
  const idp = await startOidcProvider({ clients: [{ client_id: 'sidechart', client_secret: SECRET, redirect_uris: [redirectUri] }] });
  t.teardown(() => idp.close());
  return idp;
}

t.test('shows the settings; each change is saved and audited; the secret never comes back', async (t) => {
  const app = await startAdminApp(t, { env: { PLATFORM_OIDC_PROVIDERS: PLATFORM } });
  const url = `${app.origin}/admin/sign-in`;
  const redirectUri = oidcRedirectUris(app.config, app.slug)[0]!;
  t.equal(redirectUri, 'http://acme.localhost:3000/login/oidc/callback', 'the public address from configuration, not the test port');
  const idp = await startIssuer(t, redirectUri);

  const page = await app.admin.get(url);
  t.equal(page.status, 200);
  t.equal(page.header('cache-control'), 'no-store');
  t.match(page.body, /<input type="checkbox" id="password_enabled" name="password_enabled" value="on" checked/, 'passwords are on');
  t.match(page.body, /<input type="checkbox" id="provider-acmeid" name="platform_providers" value="acmeid">/, 'the platform provider, not allowed yet');
  t.match(page.body, new RegExp(`id="redirect-uri-0" value="${redirectUri.replaceAll('.', '\\.')}" readonly`), 'the redirect URI to register, built from configuration');
  t.match(page.body, /data-copy="redirect-uri-0" data-copy-status="redirect-uri-0-status" hidden/, 'with a copy button');
  t.match(page.body, /<script src="\/assets\/copy\.js" defer><\/script>/);
  t.match(page.body, /<a href="\/admin\/sign-in" aria-current="page">Sign-in<\/a>/, 'in the admin navigation');
  const token = csrfTokenIn(page);

  const form = { password_enabled: 'on', platform_providers: 'acmeid', oidc_issuer: idp.issuer, oidc_client_id: 'sidechart', oidc_client_secret: SECRET, admit: 'domain', allowed_domains: 'Acme.example, @acme-physio.example', _csrf: token };
  const saved = await app.admin.post(url, form);
  t.equal(saved.status, 303, textOf(saved.body));
  t.equal(saved.location, '/admin/sign-in?done=saved');
  const stored = await settingsOf(app);
  t.match(stored, { password_enabled: true, platform_providers: ['acmeid'], oidc_issuer: idp.issuer, oidc_client_id: 'sidechart', oidc_admit: 'domain', allowed_email_domains: ['acme.example', 'acme-physio.example'] });
  t.equal(app.box.open(stored.oidc_client_secret_sealed!, clientSecretAad(app.clinic.tenant.schemaName)), SECRET, 'the secret is stored sealed for this clinic');
  t.notOk(JSON.stringify(stored).includes(SECRET), 'not in the clear');

  const shown = await app.admin.get(`${app.origin}${saved.location}`);
  t.match(textOf(shown.body), /Saved\./);
  t.match(shown.body, new RegExp(`id="oidc_issuer" name="oidc_issuer" value="${idp.issuer.replaceAll('.', '\\.')}"`));
  t.match(shown.body, /id="oidc_client_id" name="oidc_client_id" value="sidechart"/);
  t.match(shown.body, /id="provider-acmeid" name="platform_providers" value="acmeid" checked/);
  t.match(shown.body, /id="admit-domain" name="admit" value="domain" checked/);
  t.match(shown.body, /value="acme\.example, acme-physio\.example"/);
  t.match(textOf(shown.body), /Leave empty to keep the current secret/);
  t.notOk(shown.body.includes(SECRET), 'the secret is never shown');

  // The same form with the secret left empty: nothing to change, nothing recorded.
  const same = await app.admin.post(url, { ...form, oidc_client_secret: '' });
  t.equal(same.location, '/admin/sign-in?done=unchanged');

  // A new client id, the secret kept; then passwords off (Ada has a password, so passwords stay the only question).
  t.equal((await app.admin.post(url, { ...form, oidc_client_id: 'sidechart-2', oidc_client_secret: '' })).location, '/admin/sign-in?done=saved');
  const kept = await settingsOf(app);
  t.equal(kept.oidc_client_id, 'sidechart-2');
  t.equal(app.box.open(kept.oidc_client_secret_sealed!, clientSecretAad(app.clinic.tenant.schemaName)), SECRET, 'an empty secret field keeps the stored secret');

  // Removing the provider and the domains, passwords staying on.
  t.equal((await app.admin.post(url, { password_enabled: 'on', oidc_issuer: '', oidc_client_id: '', oidc_client_secret: '', admit: 'invited', allowed_domains: '', _csrf: token })).location, '/admin/sign-in?done=saved');
  t.match(await settingsOf(app), { oidc_issuer: null, oidc_client_id: null, oidc_client_secret_sealed: null, platform_providers: [], oidc_admit: 'invited', allowed_email_domains: [] });

  const events = await trail(app);
  t.same(events.map((e) => e.user_id), [app.adminUser.id, app.adminUser.id, app.adminUser.id], 'three saved changes, three events naming the admin; "unchanged" recorded nothing');
  t.match(events[0]!.detail, /platform providers: none -> acmeid/);
  t.match(events[0]!.detail, /admit: invited -> domain/);
  t.match(events[0]!.detail, /allowed domains: none -> acme\.example, acme-physio\.example/);
  t.match(events[0]!.detail, new RegExp(`own provider: issuer ${idp.issuer.replaceAll('.', '\\.')}, client id sidechart, new client secret`));
  t.match(events[1]!.detail, /^own provider: client id sidechart-2$/);
  t.match(events[2]!.detail, /own provider removed/);
  t.notOk(JSON.stringify(events).includes(SECRET), 'the secret is not in the trail');
  const labelled = await app.admin.get(`${app.origin}/admin/audit?action=sign_in_settings_changed`);
  t.match(textOf(labelled.body), /Sign-in settings changed/, 'the trail names the action');
});

t.test('refusals: explained next to the field, the input kept, nothing saved', async (t) => {
  const app = await startAdminApp(t, { env: { PLATFORM_OIDC_PROVIDERS: PLATFORM } });
  const url = `${app.origin}/admin/sign-in`;
  const token = csrfTokenIn(await app.admin.get(url));
  const before = await settingsOf(app);
  const nothing = `http://127.0.0.1:${await freePort()}`;
  const base = { password_enabled: 'on', oidc_client_id: 'sidechart', oidc_client_secret: SECRET, admit: 'invited', allowed_domains: '', _csrf: token };

  const refused: [string, Record<string, string>, string, RegExp][] = [
    ['nothing listening at the issuer', { ...base, oidc_issuer: nothing }, 'oidc_issuer', /could not reach the provider: nothing answered at http:\/\/127\.0\.0\.1:\d+\/\.well-known\/openid-configuration/],
    ['not an OpenID provider', { ...base, oidc_issuer: `http://127.0.0.1:${app.port}` }, 'oidc_issuer', /is not an OpenID provider Sidechart can use/],
    ['not a URL', { ...base, oidc_issuer: 'login.acme.example' }, 'oidc_issuer', /The issuer is not a URL/],
    ['no client id', { ...base, oidc_issuer: 'https://login.acme.example', oidc_client_id: '' }, 'oidc_client_id', /Enter the client id/],
    ['no secret and none stored', { ...base, oidc_issuer: 'https://login.acme.example', oidc_client_secret: '' }, 'oidc_client_secret', /Enter the client secret/],
    ['a bad domain', { ...base, oidc_client_id: '', oidc_client_secret: '', oidc_issuer: '', allowed_domains: 'acme.example, not a domain' }, 'allowed_domains', /&quot;not&quot; is not an e-mail domain|"not" is not an e-mail domain/],
    ['an unknown platform provider', { ...base, oidc_client_id: '', oidc_client_secret: '', oidc_issuer: '', platform_providers: 'google' }, 'platform_providers', /(&quot;|")google(&quot;|") is not a platform provider of this Sidechart \(known: acmeid\)/],
  ];
  for (const [what, body, field, message] of refused) {
    const res = await app.admin.post(url, body);
    t.equal(res.status, 422, `${what}: 422`);
    t.match(textOf(res.body), message, `${what}: explained`);
    t.match(res.body, new RegExp(`<span id="${field}-error"|<p id="${field}-error"`), `${what}: next to the field`);
    t.match(res.body, new RegExp(`aria-describedby="[^"]*${field}-error`), `${what}: tied to the field`);
    if (body.allowed_domains) t.match(res.body, new RegExp(`name="allowed_domains" value="${body.allowed_domains}"`), `${what}: the domains typed are kept`);
    if (body.oidc_issuer) t.match(res.body, new RegExp(`name="oidc_issuer" value="${body.oidc_issuer.replaceAll('.', '\\.')}"`), `${what}: the issuer typed is kept`);
    t.notOk(res.body.includes(SECRET), `${what}: the secret is not echoed back`);
  }
  t.same(await settingsOf(app), before, 'nothing was saved');
  t.same(await trail(app), [], 'and nothing recorded');
});

t.test('http issuers are refused when the configuration does not allow them (as in production)', async (t) => {
  const app = await startAdminApp(t, { env: { OIDC_ALLOW_HTTP_ISSUERS: 'false' } });
  const url = `${app.origin}/admin/sign-in`;
  const idp = await startIssuer(t, oidcRedirectUris(app.config, app.slug)[0]!);
  const token = csrfTokenIn(await app.admin.get(url));
  const res = await app.admin.post(url, { password_enabled: 'on', oidc_issuer: idp.issuer, oidc_client_id: 'sidechart', oidc_client_secret: SECRET, admit: 'invited', allowed_domains: '', _csrf: token });
  t.equal(res.status, 422);
  t.match(textOf(res.body), /The issuer must be an https:\/\/ URL/);
  t.equal((await settingsOf(app)).oidc_issuer, null);
});

t.test('a change that would lock every admin out is refused with the reason', async (t) => {
  const app = await startAdminApp(t, { env: { PLATFORM_OIDC_PROVIDERS: PLATFORM } });
  const url = `${app.origin}/admin/sign-in`;
  const idp = await startIssuer(t, oidcRedirectUris(app.config, app.slug)[0]!);
  const token = csrfTokenIn(await app.admin.get(url));
  const withProvider = { oidc_issuer: idp.issuer, oidc_client_id: 'sidechart', oidc_client_secret: SECRET, admit: 'invited', allowed_domains: '', _csrf: token };

  // Passwords off with a provider configured, but no admin linked to it (Sam, staff, is: staff do not count).
  await app.clinic.db.insertInto('user_identities').values({ user_id: app.user.id, issuer: idp.issuer, subject: 'sam' }).execute();
  const before = await settingsOf(app);
  const lockedOut = await app.admin.post(url, withProvider);
  t.equal(lockedOut.status, 409);
  t.match(textOf(lockedOut.body), /Not saved: no administrator could sign in any more/);
  t.match(textOf(lockedOut.body), /no enabled administrator is linked to one of those sign-in services/);
  t.match(lockedOut.body, new RegExp(`name="oidc_issuer" value="${idp.issuer.replaceAll('.', '\\.')}"`), 'the input is kept');
  t.notMatch(lockedOut.body, /id="password_enabled" name="password_enabled" value="on" checked/, 'as typed: passwords off');
  const noMethod = await app.admin.post(url, { oidc_issuer: '', oidc_client_id: '', oidc_client_secret: '', admit: 'invited', allowed_domains: '', _csrf: token });
  t.equal(noMethod.status, 409);
  t.match(textOf(noMethod.body), /no way to sign in at all is left/);
  t.same(await settingsOf(app), before, 'settings unchanged');
  t.same(await trail(app), [], 'nothing recorded');

  // Once Ada is linked to the clinic's provider, passwords can go.
  await app.clinic.db.insertInto('user_identities').values({ user_id: app.adminUser.id, issuer: `${idp.issuer}/`, subject: 'ada' }).execute();
  const ok = await app.admin.post(url, withProvider);
  t.equal(ok.status, 303, textOf(ok.body));
  t.match(await settingsOf(app), { password_enabled: false, oidc_issuer: idp.issuer });
  t.match((await trail(app))[0]!.detail, /^passwords off; own provider: /);

  // Removing that provider would leave Ada no way in; a platform provider she is linked to would.
  const remove = { oidc_issuer: '', oidc_client_id: '', oidc_client_secret: '', admit: 'invited', allowed_domains: '', _csrf: token };
  t.equal((await app.admin.post(url, remove)).status, 409, 'removing the only provider an admin can use: refused');
  t.equal((await app.admin.post(url, { ...remove, platform_providers: 'acmeid' })).status, 409, 'a platform provider no admin is linked to does not help');
  await app.clinic.db.insertInto('user_identities').values({ user_id: app.adminUser.id, issuer: 'http://127.0.0.1:9', subject: 'ada-acme' }).execute();
  t.equal((await app.admin.post(url, { ...remove, platform_providers: 'acmeid' })).status, 303, 'linked to an allowed platform provider: saved');
  t.match(await settingsOf(app), { password_enabled: false, oidc_issuer: null, platform_providers: ['acmeid'] });
  t.equal((await trail(app)).length, 2);
});

t.test('admins only, and every POST needs its token', async (t) => {
  const app = await startAdminApp(t);
  const url = `${app.origin}/admin/sign-in`;
  const body = { admit: 'invited', allowed_domains: '', oidc_issuer: '', oidc_client_id: '', oidc_client_secret: '' };
  const staff = await app.http.get(url);
  t.equal(staff.status, 403, 'staff: 403 page');
  t.match(staff.body, /Only clinic administrators can open this page/);
  const staffToken = csrfTokenIn(await app.http.get(`${app.origin}/`));
  t.equal((await app.http.post(url, { ...body, _csrf: staffToken })).status, 403, 'staff POST with a valid token: refused');
  t.equal((await app.admin.post(url, body)).status, 403, 'no CSRF token: 403');
  t.equal((await app.admin.post(url, { ...body, _csrf: 'made-up' })).status, 403, 'a made-up token: 403');
  t.equal((await settingsOf(app)).password_enabled, true, 'passwords are still on');
  t.same(await trail(app), []);
});
