// Sign-in with a clinic's own OpenID provider, end to end over real HTTP: two clinics, each with
// its own real identity provider (oidc-provider on loopback), the app listening on 127.0.0.1, a
// browser-like client with a cookie jar. Every refusal below would be a sign-in if its rule broke.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { buildTestApp, cli } from '../../../helpers/app.ts';
import { startOidcProvider, type OidcTestProvider } from '../../../helpers/oidc-provider.ts';
import { addUser, proxiedBrowsers, registerEchoRoutes, TEST_AUTH_ENV, tenantDb, type ProxiedBrowser } from '../../../helpers/fixtures.ts';
import { setUserDisabled } from '../../../../src/auth/users.ts';
import { generateKeySpec } from '../../../../src/infra/crypto.ts';

// The port links are built with (PUBLIC_PORT). Nothing listens there: the client below sends
// requests for it to the app's real port, the way a reverse proxy would.
const PUBLIC_PORT = '47801';
const callbackFor = (slug: string) => `http://${slug}.localhost:${PUBLIC_PORT}/login/oidc/callback`;
// Stands in for the patient page (built elsewhere): a throwaway route that needs a user and echoes it.
const PATIENT_PATH = '/__test/whoami?patient_id=836447129235883061&from=cliniko';

type Browser = ProxiedBrowser;

t.test('sign-in with the clinic\'s own OIDC provider', async (t) => {
  const accounts = {
    alice: { email: 'alice@clinic-a.example', name: 'Alice A' },
    outsider: { email: 'mallory@elsewhere.example' },
    unverified: { email: 'eve@clinic-a.example', email_verified: false },
    invited: { email: 'Ivan@Gmail.example' },
    disabled: { email: 'dora@clinic-a.example' },
    bob: { email: 'bob@clinic-b.example' },
  };
  const [idpA, idpB] = await Promise.all([
    startOidcProvider({ clients: [{ client_id: 'sidechart-a', client_secret: 'secret-a', redirect_uris: [callbackFor('clinica')] }], accounts }),
    startOidcProvider({ clients: [{ client_id: 'sidechart-b', client_secret: 'secret-b', redirect_uris: [callbackFor('clinicb')] }], accounts }),
  ]);
  t.teardown(() => Promise.all([idpA.close(), idpB.close()]));

  const { runtime, env, address } = await buildTestApp(t, {
    listen: true,
    env: {
      ...TEST_AUTH_ENV,
      PUBLIC_PORT,
      SESSION_SECRET: 'test-session-secret-'.padEnd(48, 'x'),
      SIDECHART_ENCRYPTION_KEYS: generateKeySpec('t1'),
    },
    extend: registerEchoRoutes,
  });
  const { origin, browser } = proxiedBrowsers(t, PUBLIC_PORT, address!);

  await runtime.tenants.create({ slug: 'clinica', displayName: 'Clinic A' });
  await runtime.tenants.create({ slug: 'clinicb', displayName: 'Clinic B' });
  const configure = async (slug: string, idp: OidcTestProvider, clientId: string, secret: string, extra: string[]) => {
    const run = await cli(env, ['sso', 'configure', slug, '--issuer', idp.issuer, '--client-id', clientId, '--client-secret-stdin', ...extra], { stdin: `${secret}\n` });
    t.equal(run.code, 0, `configure ${slug}: ${run.err}`);
    t.notMatch(run.out, new RegExp(secret), 'the secret is never printed');
    return run;
  };
  const configured = await configure('clinica', idpA, 'sidechart-a', 'secret-a', ['--admit', 'domain', '--allowed-domains', 'clinic-a.example', '--check']);
  t.match(configured.out, callbackFor('clinica'), 'the CLI prints the redirect URI to register');
  await configure('clinicb', idpB, 'sidechart-b', 'secret-b', ['--admit', 'invited']);
  const dbA = await tenantDb(runtime, 'clinica');
  const sealed = await dbA.selectFrom('auth_settings').select('oidc_client_secret_sealed').executeTakeFirstOrThrow();
  t.match(sealed.oidc_client_secret_sealed, /^v1\.t1\./, 'client secret stored sealed');
  t.notMatch(sealed.oidc_client_secret_sealed ?? '', /secret-a/);

  await addUser(runtime, 'clinica', { email: 'ivan@gmail.example', password: null });
  const dora = await addUser(runtime, 'clinica', { email: 'dora@clinic-a.example', password: null });
  await setUserDisabled(dbA, dora.id, true);
  await addUser(runtime, 'clinicb', { email: 'bob@clinic-b.example', password: null });

  /** From the patient link to the identity provider's authorization URL, in one browser. */
  async function startAt(b: Browser, slug: string): Promise<URL> {
    const patient = await b.get(`${origin(slug)}${PATIENT_PATH}`, { crossSite: true });
    t.equal(patient.status, 303);
    t.equal(patient.location, '/login');
    const login = await b.get(`${origin(slug)}/login`);
    t.equal(login.status, 200);
    t.match(login.body, /id="sign-in-oidc" *>Sign in with your clinic account/);
    t.match(login.body, 'href="/login/oidc"');
    const start = await b.get(`${origin(slug)}/login/oidc`);
    t.equal(start.status, 303, `start: ${start.body.slice(0, 200)}`);
    return new URL(start.location!);
  }

  await t.test('success: patient link -> sign-in page -> provider -> back at the exact patient URL', async (t) => {
    const b = browser();
    const authorize = await startAt(b, 'clinica');
    t.equal(authorize.origin, idpA.issuer, 'sent to the clinic\'s own provider');
    t.equal(authorize.searchParams.get('redirect_uri'), callbackFor('clinica'), 'exact redirect URI from configuration');
    t.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    t.ok(authorize.searchParams.get('state'));
    t.ok(authorize.searchParams.get('nonce'));
    const callback = await idpA.completeAuthorization(authorize, 'alice');
    t.equal(new URL(callback).searchParams.get('iss'), idpA.issuer);
    const back = await b.get(callback);
    t.equal(back.status, 303, back.body.slice(0, 300));
    t.equal(back.location, PATIENT_PATH, 'returned to the exact patient URL');
    const patient = await b.get(`${origin('clinica')}${PATIENT_PATH}`);
    t.equal(patient.status, 200);
    t.match(patient.json(), { user: { email: 'alice@clinic-a.example', role: 'staff' } }, 'a staff user was created by the domain rule');
    const identity = await dbA.selectFrom('user_identities').selectAll().where('subject', '=', 'alice').executeTakeFirstOrThrow();
    t.equal(identity.issuer, idpA.issuer, 'identified by (issuer, subject)');

    // The same person again: matched by (issuer, subject), no second user.
    const again = browser();
    const second = await again.get(await idpA.completeAuthorization(await startAt(again, 'clinica'), 'alice'));
    t.equal(second.status, 303);
    const users = await dbA.selectFrom('users').select('id').where('email', '=', 'alice@clinic-a.example').execute();
    t.equal(users.length, 1);
  });

  await t.test('state mismatch: refused, not signed in', async (t) => {
    const b = browser();
    const callback = new URL(await idpA.completeAuthorization(await startAt(b, 'clinica'), 'alice'));
    callback.searchParams.set('state', 'forged-state');
    const res = await b.get(callback.href, { json: true });
    t.equal(res.status, 400);
    t.match(res.json(), { error: 'sso_state_mismatch' });
    t.equal((await b.get(`${origin('clinica')}${PATIENT_PATH}`)).status, 303, 'still anonymous');
  });

  await t.test('replayed callback: refused in the same browser and in another', async (t) => {
    const b = browser();
    const callback = await idpA.completeAuthorization(await startAt(b, 'clinica'), 'alice');
    t.equal((await b.get(callback)).status, 303);
    const replay = await b.get(callback, { json: true });
    t.equal(replay.status, 400);
    t.match(replay.json(), { error: 'sso_attempt_missing' });
    const attacker = browser();
    const stolen = await attacker.get(callback, { json: true });
    t.equal(stolen.status, 400, 'a callback URL is useless without the browser\'s own attempt');
    t.equal((await attacker.get(`${origin('clinica')}${PATIENT_PATH}`)).status, 303);
  });

  await t.test('a failed callback uses the attempt up too', async (t) => {
    const b = browser();
    const callback = new URL(await idpA.completeAuthorization(await startAt(b, 'clinica'), 'alice'));
    const good = callback.href;
    callback.searchParams.set('state', 'x');
    t.equal((await b.get(callback.href)).status, 400);
    const res = await b.get(good, { json: true });
    t.equal(res.status, 400, 'the genuine answer cannot be used after a refused one');
    t.match(res.json(), { error: 'sso_attempt_missing' });
  });

  await t.test('the user cancels at the provider: a clear 403, not signed in', async (t) => {
    const b = browser();
    const res = await b.get(await idpA.completeAuthorization(await startAt(b, 'clinica'), 'alice', { deny: true }));
    t.equal(res.status, 403);
    t.match(res.body, /did not sign you in/);
    t.match(res.body, /href="\/login"/);
  });

  await t.test('wrong nonce: an authorization made with another nonce is refused', async (t) => {
    const b = browser();
    const authorize = await startAt(b, 'clinica');
    // The attacker reuses the victim's client, redirect URI, code_challenge and state, with a nonce of their own.
    const crafted = new URL(authorize);
    crafted.searchParams.set('nonce', 'attacker-chosen-nonce');
    const res = await b.get(await idpA.completeAuthorization(crafted, 'alice'), { json: true });
    t.equal(res.status, 400);
    t.match(res.json(), { error: 'sso_token_invalid' });
    t.equal((await b.get(`${origin('clinica')}${PATIENT_PATH}`)).status, 303);
  });

  await t.test('mix-up: an answer from the other clinic\'s issuer is refused', async (t) => {
    const victim = browser();
    const authorize = await startAt(victim, 'clinica');
    // A code genuinely issued by clinic B's provider (to B's client), delivered to clinic A's callback
    // with the victim's state.
    const other = browser();
    const fromB = new URL(await idpB.completeAuthorization(await startAt(other, 'clinicb'), 'bob'));
    const forged = new URL(callbackFor('clinica'));
    forged.searchParams.set('code', fromB.searchParams.get('code')!);
    forged.searchParams.set('state', authorize.searchParams.get('state')!);
    forged.searchParams.set('iss', fromB.searchParams.get('iss')!);
    const res = await victim.get(forged.href, { json: true });
    t.equal(res.status, 400);
    t.match(res.json(), { error: 'sso_issuer_mismatch' });

    // Without the iss parameter: clinic A's provider advertises it, so its absence is refused too.
    const victim2 = browser();
    const authorize2 = await startAt(victim2, 'clinica');
    forged.searchParams.set('state', authorize2.searchParams.get('state')!);
    forged.searchParams.delete('iss');
    const res2 = await victim2.get(forged.href, { json: true });
    t.equal(res2.status, 400);
    t.match(res2.json(), { error: 'sso_token_invalid' });
    t.equal((await victim2.get(`${origin('clinica')}${PATIENT_PATH}`)).status, 303);
  });

  await t.test('admission: outside the allowed domains, unverified, invited, disabled', async (t) => {
    const outsider = browser();
    const refused = await outsider.get(await idpA.completeAuthorization(await startAt(outsider, 'clinica'), 'outsider'));
    t.equal(refused.status, 403);
    t.match(refused.body, /mallory@elsewhere\.example is not allowed to sign in to Clinic A/);
    t.match(refused.body, /Back to the sign-in page/);
    t.notMatch(refused.body, /at .*\.ts:\d+/, 'no stack');

    const unverified = browser();
    const res = await unverified.get(await idpA.completeAuthorization(await startAt(unverified, 'clinica'), 'unverified'), { json: true });
    t.equal(res.status, 403, 'an unverified e-mail in the right domain is not enough');
    t.match(res.json(), { error: 'not_admitted' });

    const invited = browser();
    const ok = await invited.get(await idpA.completeAuthorization(await startAt(invited, 'clinica'), 'invited'));
    t.equal(ok.status, 303, 'an invited user outside the domains is linked');
    t.match((await invited.get(`${origin('clinica')}${PATIENT_PATH}`)).json(), { user: { email: 'ivan@gmail.example' } });

    const disabled = browser();
    const no = await disabled.get(await idpA.completeAuthorization(await startAt(disabled, 'clinica'), 'disabled'));
    t.equal(no.status, 403);
    t.match(no.body, /disabled/);

    // Clinic B admits invited users only: alice (not invited there) is refused even with a verified e-mail.
    const stranger = browser();
    const b = await stranger.get(await idpB.completeAuthorization(await startAt(stranger, 'clinicb'), 'alice'), { json: true });
    t.equal(b.status, 403);
    t.match(b.json(), { error: 'not_admitted' });
    const bob = browser();
    t.equal((await bob.get(await idpB.completeAuthorization(await startAt(bob, 'clinicb'), 'bob'))).status, 303);
  });

  await t.test('a session from the clinic\'s provider is only good on that clinic', async (t) => {
    const b = browser();
    await b.get(await idpA.completeAuthorization(await startAt(b, 'clinica'), 'alice'));
    t.equal((await b.get(`${origin('clinica')}${PATIENT_PATH}`)).status, 200);
    t.equal((await b.get(`${origin('clinicb')}${PATIENT_PATH}`)).status, 303);
  });

  await t.test('no provider configured: no button, clear 404', async (t) => {
    await runtime.tenants.create({ slug: 'plain', displayName: 'Plain Clinic' });
    const b = browser();
    const login = await b.get(`${origin('plain')}/login`);
    t.notMatch(login.body, /sign-in-oidc/);
    const res = await b.get(`${origin('plain')}/login/oidc`);
    t.equal(res.status, 404);
    t.match(res.body, /not enabled for this clinic/);
  });

  await t.test('identity provider misconfigured, failing or down: a clear page, never a 500', async (t) => {
    // A "provider" whose token endpoint fails with 500 and whose discovery is broken on demand.
    let discoveryBroken = false;
    const fake: Server = createServer((req, res) => {
      const issuer = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
      if (req.url === '/.well-known/openid-configuration' && !discoveryBroken) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          jwks_uri: `${issuer}/jwks`,
          response_types_supported: ['code'],
          authorization_response_iss_parameter_supported: true,
        }));
        return;
      }
      res.writeHead(req.url === '/token' ? 500 : 404, { 'content-type': 'text/plain' });
      res.end('broken');
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => fake.close(() => resolve())));
    const fakeIssuer = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
    await runtime.tenants.create({ slug: 'flaky', displayName: 'Flaky Clinic' });
    t.equal((await cli(env, ['sso', 'configure', 'flaky', '--issuer', fakeIssuer, '--client-id', 'c', '--client-secret-stdin'], { stdin: 's' })).code, 0);

    const b = browser();
    await b.get(`${origin('flaky')}${PATIENT_PATH}`);
    const start = await b.get(`${origin('flaky')}/login/oidc`);
    t.equal(start.status, 303);
    const state = new URL(start.location!).searchParams.get('state')!;
    const tokenFails = await b.get(`${origin('flaky')}/login/oidc/callback?code=c&state=${state}&iss=${encodeURIComponent(fakeIssuer)}`);
    t.equal(tokenFails.status, 502, 'token endpoint 500 -> 502 page');
    t.match(tokenFails.body, /answered with an error/);
    t.match(tokenFails.body, /Reference:/);

    // Discovery answering 404 (wrong issuer URL, say): misconfigured. The cache is dropped by the settings change.
    discoveryBroken = true;
    t.equal((await cli(env, ['sso', 'configure', 'flaky', '--issuer', `${fakeIssuer}/`, '--client-id', 'c', '--client-secret-stdin'], { stdin: 's' })).code, 0);
    const misconfigured = await b.get(`${origin('flaky')}/login/oidc`, { json: true });
    t.equal(misconfigured.status, 502);
    t.match(misconfigured.json(), { error: 'idp_misconfigured' });

    // The CLI's --check refuses to save a provider that does not answer.
    const check = await cli(env, ['sso', 'configure', 'flaky', '--issuer', fakeIssuer, '--client-id', 'c', '--client-secret-stdin', '--check'], { stdin: 's' });
    t.equal(check.code, 1);
    t.match(check.err, /discovery failed, nothing saved/);

    // Clinic B's provider goes down: discovery is cached, so the failure shows at the token endpoint first.
    const bob = browser();
    const authorize = await startAt(bob, 'clinicb');
    const callback = await idpB.completeAuthorization(authorize, 'bob');
    await idpB.close();
    const down = await bob.get(callback);
    t.equal(down.status, 503, 'token endpoint unreachable -> 503');
    t.equal(down.header('retry-after'), '30');
    t.match(down.body, /is not answering right now/);
    t.notMatch(down.body, /ECONNREFUSED|fetch failed|at .*\.ts:\d+/, 'no internals on the page');
    // Settings changed (new secret), so discovery runs again, against the closed provider: 503 at the start.
    t.equal((await cli(env, ['sso', 'configure', 'clinicb', '--issuer', idpB.issuer, '--client-id', 'sidechart-b', '--client-secret-stdin'], { stdin: 'rotated-secret' })).code, 0);
    const startDown = await bob.get(`${origin('clinicb')}/login/oidc`);
    t.equal(startDown.status, 503);
    t.match(startDown.body, /Sign-in service unavailable/);
  });
});
