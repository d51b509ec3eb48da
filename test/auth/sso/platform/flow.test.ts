// Sign-in with a platform provider, end to end over real HTTP: a real identity provider on
// loopback registered at boot (PLATFORM_OIDC_PROVIDERS), the callback on the auth host, the
// hand-off back to the clinic's host. Every refusal below would be a sign-in if its rule broke.
import t from 'tap';
import { buildTestApp, cli } from '../../../helpers/app.ts';
import { startOidcProvider } from '../../../helpers/oidc-provider.ts';
import { addUser, proxiedBrowsers, registerEchoRoutes, TEST_AUTH_ENV, tenantDb, type ProxiedBrowser } from '../../../helpers/fixtures.ts';
import { generateKeySpec } from '../../../../src/infra/crypto.ts';

const PUBLIC_PORT = '47802';
const AUTH = `http://auth.localhost:${PUBLIC_PORT}`;
// Stands in for the patient page (built elsewhere): a throwaway route that needs a user and echoes it.
const PATIENT_PATH = '/__test/whoami?patient_id=836447129235883061&from=cliniko';

type Browser = ProxiedBrowser;

t.test('sign-in with a platform provider through the auth host', async (t) => {
  const accounts = {
    alice: { email: 'alice@clinic-a.example', name: 'Alice A' },
    outsider: { email: 'mallory@elsewhere.example' },
    bob: { email: 'bob@clinic-b.example' },
  };
  const platform = await startOidcProvider({
    clients: [{ client_id: 'sidechart-platform', client_secret: 'platform-secret', redirect_uris: [`${AUTH}/sso/acmeid/callback`] }],
    accounts,
  });
  // A clinic's own provider, whose answers must never pass for the platform provider's.
  const clinicIdp = await startOidcProvider({ clients: [{ client_id: 'x', client_secret: 'y', redirect_uris: ['http://x.localhost/cb'] }], accounts });
  // A platform provider that is down when the app boots.
  const gone = await startOidcProvider({ clients: [], accounts });
  await gone.close();
  t.teardown(() => Promise.all([platform.close(), clinicIdp.close()]));

  const { runtime, env, address } = await buildTestApp(t, {
    listen: true,
    env: {
      ...TEST_AUTH_ENV,
      PUBLIC_PORT,
      SESSION_SECRET: 'test-session-secret-'.padEnd(48, 'y'),
      SIDECHART_ENCRYPTION_KEYS: generateKeySpec('t1'),
      PLATFORM_OIDC_PROVIDERS: JSON.stringify([
        { id: 'acmeid', name: 'AcmeID', issuer: platform.issuer, clientId: 'sidechart-platform', clientSecret: 'platform-secret' },
        { id: 'gone', name: 'GoneID', issuer: gone.issuer, clientId: 'c', clientSecret: 's' },
      ]),
    },
    extend: registerEchoRoutes,
  });
  const { origin, browser } = proxiedBrowsers(t, PUBLIC_PORT, address!);

  await runtime.tenants.create({ slug: 'clinica', displayName: 'Clinic A' });
  await runtime.tenants.create({ slug: 'clinicb', displayName: 'Clinic B' });
  await runtime.tenants.create({ slug: 'clinicc', displayName: 'Clinic C' });
  for (const [slug, args] of [
    ['clinica', ['--platform-providers', 'acmeid,gone', '--admit', 'domain', '--allowed-domains', 'clinic-a.example']],
    ['clinicb', ['--platform-providers', 'acmeid', '--admit', 'invited']],
  ] as const) {
    const run = await cli(env, ['sso', 'configure', slug, ...args]);
    t.equal(run.code, 0, run.err);
  }
  t.equal((await cli(env, ['sso', 'configure', 'clinicc', '--platform-providers', 'nope'])).code, 1, 'unknown provider ids are refused');
  await addUser(runtime, 'clinicb', { email: 'bob@clinic-b.example', password: null });

  /** Patient link -> sign-in page -> auth host -> the provider's authorization URL, in one browser. */
  async function startAt(b: Browser, slug: string): Promise<URL> {
    const patient = await b.get(`${origin(slug)}${PATIENT_PATH}`, { crossSite: true });
    t.equal(patient.location, '/login');
    const login = await b.get(`${origin(slug)}/login`);
    t.match(login.body, /id="sign-in-platform-acmeid" *>Sign in with AcmeID/);
    const toAuthHost = await b.get(`${origin(slug)}/login/sso/acmeid`);
    t.equal(toAuthHost.status, 303);
    const start = new URL(toAuthHost.location!);
    t.equal(`${start.origin}${start.pathname}`, `${AUTH}/sso/acmeid/start`);
    t.equal(start.searchParams.get('tenant'), slug);
    const toProvider = await b.get(start.href);
    t.equal(toProvider.status, 303, toProvider.body.slice(0, 300));
    const authorize = new URL(toProvider.location!);
    t.equal(authorize.origin, platform.issuer);
    return authorize;
  }

  /** Through the provider and the auth host's callback, up to the hand-off URL on the clinic's host. */
  async function handoffUrl(b: Browser, slug: string, account: string): Promise<string> {
    const callback = await platform.completeAuthorization(await startAt(b, slug), account);
    const res = await b.get(callback);
    t.equal(res.status, 303, res.body.slice(0, 300));
    return res.location!;
  }

  await t.test('success: patient link -> provider -> auth host -> hand-off -> exact patient URL', async (t) => {
    const b = browser();
    const authorize = await startAt(b, 'clinica');
    t.equal(authorize.searchParams.get('redirect_uri'), `${AUTH}/sso/acmeid/callback`, 'exact redirect URI on the auth host');
    t.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    t.ok(authorize.searchParams.get('nonce'), 'a nonce is sent');
    t.ok(authorize.searchParams.get('state'));
    const authCookies = b.http.cookies('auth.localhost');
    t.match(authCookies.find((c) => c.name === 'sidechart-sso'), { httpOnly: true, hostOnly: true, sameSite: 'Lax' });
    t.same(b.http.cookies('clinica.localhost').filter((c) => c.name === 'sidechart-sso'), [], 'the transaction cookie stays on the auth host');

    const callback = await platform.completeAuthorization(authorize, 'alice');
    const toClinic = await b.get(callback);
    t.equal(toClinic.status, 303);
    const complete = new URL(toClinic.location!);
    t.equal(`${complete.origin}${complete.pathname}`, `${origin('clinica')}/login/sso/complete`);
    const back = await b.get(complete.href);
    t.equal(back.status, 303, back.body.slice(0, 300));
    t.equal(back.location, PATIENT_PATH, 'returned to the exact patient URL');
    const patient = await b.get(`${origin('clinica')}${PATIENT_PATH}`);
    t.equal(patient.status, 200);
    t.match(patient.json(), { user: { email: 'alice@clinic-a.example' } });
    t.same(b.http.cookies('auth.localhost').filter((c) => c.name === 'sidechart-sso'), [], 'transaction cookie cleared');
    const db = await tenantDb(runtime, 'clinica');
    const identity = await db.selectFrom('user_identities').selectAll().where('subject', '=', 'alice').executeTakeFirstOrThrow();
    t.equal(identity.issuer, platform.issuer);

    // The hand-off is single use.
    const replay = await b.get(complete.href, { json: true });
    t.equal(replay.status, 400);
    t.match(replay.json(), { error: 'sso_handoff_invalid' });
    const stored = await runtime.databases.control.withTables<{ 'control.handoffs': { id_hash: string; used_at: Date | null } }>()
      .selectFrom('control.handoffs').select(['id_hash', 'used_at']).execute();
    t.ok(stored.every((row) => /^[0-9a-f]{64}$/.test(row.id_hash) && !complete.searchParams.get('token')!.includes(row.id_hash)), 'only hashes are stored');
  });

  await t.test('hand-off in a browser without the matching attempt: refused, and burnt', async (t) => {
    const victim = browser();
    const url = await handoffUrl(victim, 'clinica', 'alice');
    const thief = browser();
    await thief.get(`${origin('clinica')}/login/sso/acmeid`); // an attempt of the thief's own
    const stolen = await thief.get(url, { json: true });
    t.equal(stolen.status, 400);
    t.match(stolen.json(), { error: 'sso_handoff_invalid' });
    t.equal((await thief.get(`${origin('clinica')}${PATIENT_PATH}`)).status, 303, 'thief not signed in');
    const late = await victim.get(url, { json: true });
    t.equal(late.status, 400, 'a token presented once is used up');
  });

  await t.test('hand-off used on another clinic\'s host: refused', async (t) => {
    const b = browser();
    const url = new URL(await handoffUrl(b, 'clinicb', 'bob'));
    // Same browser, with an attempt on clinic A too: the token was made for clinic B.
    await b.get(`${origin('clinica')}/login/sso/acmeid`);
    const elsewhere = await b.get(`${origin('clinica')}/login/sso/complete${url.search}`, { json: true });
    t.equal(elsewhere.status, 400);
    t.match(elsewhere.json(), { error: 'sso_handoff_invalid' });
    t.equal((await b.get(`${origin('clinica')}${PATIENT_PATH}`)).status, 303);
  });

  await t.test('forged or expired hand-off tokens are refused', async (t) => {
    const b = browser();
    await b.get(`${origin('clinica')}/login/sso/acmeid`);
    for (const token of ['junk', 'a.b.c', 'x'.repeat(300)]) {
      const res = await b.get(`${origin('clinica')}/login/sso/complete?token=${token}`, { json: true });
      t.equal(res.status, 400, token.slice(0, 10));
    }
    const db = runtime.databases.control.withTables<{ 'control.handoffs': { expires_at: Date; used_at: Date | null } }>();
    const valid = new URL(await handoffUrl(b, 'clinica', 'alice'));
    // Expire every unused hand-off (no sleeping): the next use must fail.
    await db.updateTable('control.handoffs').set({ expires_at: new Date(Date.now() - 1000) }).where('used_at', 'is', null).execute();
    const res = await b.get(valid.href, { json: true });
    t.equal(res.status, 400);
    t.match(res.json(), { error: 'sso_handoff_invalid' });
  });

  await t.test('auth host: state mismatch, other issuer, wrong nonce, replayed callback', async (t) => {
    const b1 = browser();
    const cb1 = new URL(await platform.completeAuthorization(await startAt(b1, 'clinica'), 'alice'));
    cb1.searchParams.set('state', 'forged');
    const state = await b1.get(cb1.href, { json: true });
    t.equal(state.status, 400);
    t.match(state.json(), { error: 'sso_state_mismatch' });

    const b2 = browser();
    const cb2 = new URL(await platform.completeAuthorization(await startAt(b2, 'clinica'), 'alice'));
    cb2.searchParams.set('iss', clinicIdp.issuer);
    const mixup = await b2.get(cb2.href, { json: true });
    t.equal(mixup.status, 400);
    t.match(mixup.json(), { error: 'sso_issuer_mismatch' });
    cb2.searchParams.delete('iss');
    const b2b = browser();
    const authorize = await startAt(b2b, 'clinica');
    cb2.searchParams.set('state', authorize.searchParams.get('state')!);
    const noIss = await b2b.get(cb2.href, { json: true });
    t.equal(noIss.status, 400, 'the provider always sends iss: an answer without it is refused');
    t.match(noIss.json(), { error: 'sso_issuer_mismatch' });

    const handoffCount = async () => (await runtime.databases.control.withTables<{ 'control.handoffs': { id_hash: string } }>()
      .selectFrom('control.handoffs').select('id_hash').execute()).length;
    const before = await handoffCount();
    const b3 = browser();
    const crafted = await startAt(b3, 'clinica');
    crafted.searchParams.set('nonce', 'attacker-nonce');
    const nonce = await b3.get(await platform.completeAuthorization(crafted, 'alice'), { json: true });
    t.equal(nonce.status, 400);
    t.match(nonce.json(), { error: 'sso_token_invalid' });
    t.equal(await handoffCount(), before, 'no hand-off was created for a refused answer');

    const b4 = browser();
    const cb4 = await platform.completeAuthorization(await startAt(b4, 'clinica'), 'alice');
    t.equal((await b4.get(cb4)).status, 303);
    const replay = await b4.get(cb4, { json: true });
    t.equal(replay.status, 400, 'the callback cannot be replayed: the transaction is gone');
    t.match(replay.json(), { error: 'sso_attempt_missing' });
    const other = browser();
    t.equal((await other.get(cb4, { json: true })).status, 400, 'nor used from another browser');
  });

  await t.test('the user cancels at the provider: a clear 403 with a way back to the clinic', async (t) => {
    const b = browser();
    const res = await b.get(await platform.completeAuthorization(await startAt(b, 'clinica'), 'alice', { deny: true }));
    t.equal(res.status, 403);
    t.match(res.body, /did not sign you in/);
    t.match(res.body, `href="${origin('clinica')}/login"`);
  });

  await t.test('start links are checked on the auth host', async (t) => {
    const b = browser();
    const toAuthHost = new URL((await b.get(`${origin('clinica')}/login/sso/acmeid`)).location!);
    const otherTenant = new URL(toAuthHost);
    otherTenant.searchParams.set('tenant', 'clinicb');
    t.equal((await b.get(otherTenant.href)).status, 400, 'the reference names its clinic');
    const forged = new URL(toAuthHost);
    forged.searchParams.set('attempt', 'forged');
    t.equal((await b.get(forged.href)).status, 400);
    t.equal((await b.get(`${origin('clinica')}/sso/acmeid/start${toAuthHost.search}`)).status, 404, 'only on the auth host');
  });

  await t.test('admission: outside the allowed domains refused; invite-only clinic', async (t) => {
    const outsider = browser();
    const res = await outsider.get(await handoffUrl(outsider, 'clinica', 'outsider'));
    t.equal(res.status, 403);
    t.match(res.body, /mallory@elsewhere\.example is not allowed to sign in to Clinic A/);

    const stranger = browser();
    const refused = await stranger.get(await handoffUrl(stranger, 'clinicb', 'alice'), { json: true });
    t.equal(refused.status, 403, 'clinic B admits invited users only');
    t.match(refused.json(), { error: 'not_admitted' });
    const bob = browser();
    t.equal((await bob.get(await handoffUrl(bob, 'clinicb', 'bob'))).status, 303, 'invited user linked');
  });

  await t.test('a clinic that stops allowing the provider: buttons gone, hand-offs refused', async (t) => {
    const b = browser();
    const url = await handoffUrl(b, 'clinicb', 'bob');
    t.equal((await cli(env, ['sso', 'configure', 'clinicb', '--platform-providers', ''])).code, 0);
    const res = await b.get(url, { json: true });
    t.equal(res.status, 404);
    t.match(res.json(), { error: 'sso_not_enabled' });
    const login = await b.get(`${origin('clinicb')}/login`);
    t.notMatch(login.body, /sign-in-platform-acmeid/);
    t.equal((await b.get(`${origin('clinicb')}/login/sso/acmeid`)).status, 404);
    t.equal((await b.get(`${origin('clinicc')}/login/sso/acmeid`)).status, 404, 'never allowed');
  });

  await t.test('identity provider down: a clear page, never a 500', async (t) => {
    const b = browser();
    const login = await b.get(`${origin('clinica')}/login`);
    t.match(login.body, /id="sign-in-platform-gone" *>Sign in with GoneID/);
    const downAtBoot = await b.get(`${origin('clinica')}/login/sso/gone`);
    t.equal(downAtBoot.status, 503);
    t.match(downAtBoot.body, /GoneID is not answering right now/);

    const callback = await platform.completeAuthorization(await startAt(b, 'clinica'), 'alice');
    await platform.close();
    const down = await b.get(callback);
    t.equal(down.status, 503, 'token endpoint unreachable');
    t.match(down.body, /AcmeID is not answering right now/);
    t.notMatch(down.body, /ECONNREFUSED|Client request error|at .*\.ts:\d+/);
  });
});
