// Sign-up whose first admin signs in with a platform provider instead of choosing a password (issue
// 9, point 1), over real HTTP with a real identity provider on loopback: the form on the platform
// host, the code flow on the auth host, the clinic created only once the provider has answered,
// the admin arriving signed in on the new clinic's host and able to sign in there again.
import t from 'tap';
import { buildTestApp } from '../helpers/app.ts';
import { startOidcProvider } from '../helpers/oidc-provider.ts';
import { client, csrfTokenIn, tenantDb, TEST_AUTH_ENV } from '../helpers/fixtures.ts';
import type { HttpClient, HttpResponse } from '../helpers/http-client.ts';
import { generateKeySpec } from '../../src/infra/crypto.ts';
import { getAuthSettings } from '../../src/auth/settings.ts';
import { createSignupService } from '../../src/signup/service.ts';

const PUBLIC_PORT = '47803';
const AUTH = `http://auth.localhost:${PUBLIC_PORT}`;
const PLATFORM = `http://localhost:${PUBLIC_PORT}`;
const CLINIC_FIELDS = { clinicName: 'Acme Physio', slug: 'acme-physio', region: 'local', adminName: 'Jo Admin', email: '', password: '' };

t.test('sign-up with a platform provider', async (t) => {
  const platform = await startOidcProvider({
    clients: [{ client_id: 'sidechart-platform', client_secret: 'platform-secret', redirect_uris: [`${AUTH}/sso/acmeid/callback`] }],
    accounts: { jo: { email: 'Jo@Acme.example', name: 'Jo A' }, kim: { email: 'kim@other.example' } },
  });
  t.teardown(() => platform.close());
  const { runtime, address } = await buildTestApp(t, {
    listen: true,
    env: {
      ...TEST_AUTH_ENV,
      PUBLIC_PORT,
      RATE_LIMIT_SIGN_UP_PER_HOUR: '1000',
      SESSION_SECRET: 'test-session-secret-'.padEnd(48, 'z'),
      SIDECHART_ENCRYPTION_KEYS: generateKeySpec('t1'),
      PLATFORM_OIDC_PROVIDERS: JSON.stringify([{ id: 'acmeid', name: 'AcmeID', issuer: platform.issuer, clientId: 'sidechart-platform', clientSecret: 'platform-secret' }]),
    },
  });
  const appPort = new URL(address!).port;
  /** Links name the public port; a proxy would send them to the app. */
  const toApp = (url: string): string => {
    const u = new URL(url);
    if (u.hostname.endsWith('localhost') && u.port === PUBLIC_PORT) u.port = appPort;
    return u.href;
  };
  const browser = (): HttpClient => client({}, t);
  const exists = async (slug: string) => (await runtime.tenants.list()).some((tenant) => tenant.slug === slug);

  /** The form, submitted with the provider's button: answers the POST. */
  async function submit(http: HttpClient, fields: Record<string, string>): Promise<HttpResponse> {
    const page = await http.get(toApp(`${PLATFORM}/signup`));
    return http.post(toApp(`${PLATFORM}/signup`), { ...fields, provider: 'acmeid', _csrf: csrfTokenIn(page) });
  }

  /** Form -> auth host -> the provider's authorization URL. */
  async function toProvider(http: HttpClient, fields: Record<string, string>): Promise<URL> {
    const posted = await submit(http, fields);
    t.equal(posted.status, 303, posted.body.slice(0, 400));
    const start = new URL(posted.location!);
    t.equal(`${start.origin}${start.pathname}`, `${AUTH}/sso/acmeid/signup`);
    const redirected = await http.get(toApp(start.href));
    t.equal(redirected.status, 303, redirected.body.slice(0, 400));
    const authorize = new URL(redirected.location!);
    t.equal(authorize.origin, platform.issuer);
    t.equal(authorize.searchParams.get('redirect_uri'), `${AUTH}/sso/acmeid/callback`, 'the callback registered for sign-in serves sign-up too');
    return authorize;
  }

  await t.test('the form offers the provider, and may send the browser to it', async (t) => {
    const page = await browser().get(toApp(`${PLATFORM}/signup`));
    t.match(page.body, /<button type="submit" name="provider" value="acmeid" id="signup-provider-acmeid"[^>]*>Set up my clinic with AcmeID<\/button>/);
    const csp = String(page.headers['content-security-policy']);
    t.match(csp, new RegExp(`form-action 'self' http://\\*\\.localhost:${PUBLIC_PORT} ${platform.issuer.replace(/[.]/g, '\\.')}(;|$)`), 'form-action: the clinics\' hosts and the provider, nothing else');
  });

  await t.test('success: nothing exists until the provider answers; then the admin arrives signed in, linked to the identity', async (t) => {
    const http = browser();
    const authorize = await toProvider(http, CLINIC_FIELDS);
    t.notOk(await exists('acme-physio'), 'no clinic before the provider has said who the admin is');
    const callback = await http.get(toApp(await platform.completeAuthorization(authorize, 'jo')));
    t.equal(callback.status, 303, callback.body.slice(0, 400));
    const complete = new URL(callback.location!);
    t.equal(`${complete.origin}${complete.pathname}`, `http://acme-physio.localhost:${PUBLIC_PORT}/signup/complete`);
    const signedIn = await http.get(toApp(complete.href));
    t.equal(signedIn.status, 303, signedIn.body.slice(0, 400));
    const home = await http.get(toApp(`http://acme-physio.localhost:${PUBLIC_PORT}/`));
    t.equal(home.status, 200);
    t.match(home.body, /Jo Admin/, 'the chrome names the new admin');
    t.match(home.body, /href="\/admin"/, 'as an admin');

    const db = await tenantDb(runtime, 'acme-physio');
    const admin = await db.selectFrom('users').select(['id', 'email', 'role', 'password_hash']).executeTakeFirstOrThrow();
    t.match(admin, { email: 'jo@acme.example', role: 'admin', password_hash: null }, 'the e-mail comes from the provider; no password');
    const identity = await db.selectFrom('user_identities').select(['user_id', 'issuer', 'subject']).executeTakeFirstOrThrow();
    t.same(identity, { user_id: admin.id, issuer: platform.issuer, subject: 'jo' });
    t.same((await getAuthSettings(db)).platformProviders, ['acmeid'], 'the provider is enabled, so the admin can sign in again');
    const created = await db.selectFrom('audit_events').select(['action', 'user_id', 'detail']).where('action', '=', 'clinic_created').executeTakeFirstOrThrow();
    t.match(created, { user_id: admin.id, detail: /admin signed in with acmeid/ });

    // Signed out, the admin signs in again with the provider, as any sign-in at a platform provider.
    const again = browser();
    const toAuth = await again.get(toApp(`http://acme-physio.localhost:${PUBLIC_PORT}/login/sso/acmeid`));
    const toIdp = await again.get(toApp(toAuth.location!));
    const back = await again.get(toApp(await platform.completeAuthorization(new URL(toIdp.location!), 'jo')));
    const done = await again.get(toApp(back.location!));
    t.equal(done.status, 303, done.body.slice(0, 300));
    t.match((await again.get(toApp(`http://acme-physio.localhost:${PUBLIC_PORT}/`))).body, /Jo Admin/);
  });

  await t.test('the clinic\'s fields are checked before leaving; the e-mail and password are not asked for', async (t) => {
    const res = await submit(browser(), { ...CLINIC_FIELDS, clinicName: '', slug: 'www' });
    t.equal(res.status, 400);
    t.match(res.body, /id="clinicName-error"/);
    t.match(res.body, /id="slug-error"[^>]*>&quot;www&quot; is reserved/);
    t.notMatch(res.body, /id="(email|password)-error"/);
    const taken = await submit(browser(), CLINIC_FIELDS);
    t.equal(taken.status, 409, 'an address already taken is said at once, next to its field');
    t.match(taken.body, /acme-physio is already taken/);
  });

  await t.test('two sign-ups racing at the provider for one address: one clinic, and the other browser is told', async (t) => {
    const [a, b] = [browser(), browser()];
    const fields = { ...CLINIC_FIELDS, slug: 'race-clinic' };
    const [authA, authB] = [await toProvider(a, fields), await toProvider(b, fields)];
    const [cbA, cbB] = [await platform.completeAuthorization(authA, 'jo'), await platform.completeAuthorization(authB, 'kim')];
    const [resA, resB] = await Promise.all([a.get(toApp(cbA), { headers: { accept: 'application/json' } }), b.get(toApp(cbB), { headers: { accept: 'application/json' } })]);
    t.same([resA.status, resB.status].sort(), [303, 409]);
    const loser = resA.status === 409 ? resA : resB;
    t.match(loser.json(), { error: 'signup_refused', message: /race-clinic is already taken/ });
    t.equal((await runtime.tenants.list()).filter((tenant) => tenant.slug === 'race-clinic').length, 1);
    const db = await tenantDb(runtime, 'race-clinic');
    t.equal((await db.selectFrom('users').select('id').execute()).length, 1, 'one admin: the winner');
  });

  await t.test('a forged, reused or misdirected sign-up request starts nothing', async (t) => {
    const http = browser();
    for (const request of ['junk', 'a.b.c']) {
      const res = await http.get(toApp(`${AUTH}/sso/acmeid/signup?request=${request}`), { headers: { accept: 'application/json' } });
      t.equal(res.status, 400);
      t.match(res.json(), { error: 'signup_request_invalid' });
    }
    // A sign-in transaction cookie is not a sign-up one, and a sign-up request is not an attempt.
    const posted = await submit(http, { ...CLINIC_FIELDS, slug: 'misdirected' });
    const request = new URL(posted.location!).searchParams.get('request')!;
    const asAttempt = await http.get(toApp(`${AUTH}/sso/acmeid/start?tenant=misdirected&attempt=${encodeURIComponent(request)}`), { headers: { accept: 'application/json' } });
    t.equal(asAttempt.status, 400, 'a sign-up request does not verify as a sign-in attempt');
    t.notOk(await exists('misdirected'));
  });

  await t.test('an identity without an e-mail address creates nothing', async (t) => {
    const signup = createSignupService(runtime);
    const result = await signup.completeForProvider(
      { clinicName: 'No Mail', slug: 'no-mail', regionId: 'local', adminName: 'N' },
      { providerId: 'acmeid', issuer: platform.issuer, subject: 'nomail', email: null },
    );
    t.match(result, { ok: false, errors: { email: /did not share an e-mail address/ } });
    t.notOk(await exists('no-mail'));
  });
});
