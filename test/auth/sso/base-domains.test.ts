// With several base domains (BASE_DOMAIN=localhost,sidechart.localhost), every link a sign-in sends
// the browser along is on the base domain the sign-in started on: the clinic's own provider's
// redirect URI, the auth host of a platform provider and its redirect URI, and the hand-off back to
// the clinic. Otherwise the browser would come back to a host whose (host-only) session does not
// hold the attempt, and the sign-in could never finish. Real identity providers over real HTTP.
import t from 'tap';
import { buildTestApp, cli } from '../../helpers/app.ts';
import { startOidcProvider } from '../../helpers/oidc-provider.ts';
import { proxiedBrowsers, registerEchoRoutes, TEST_AUTH_ENV } from '../../helpers/fixtures.ts';

const PUBLIC_PORT = '47804';
const BASE_DOMAINS = ['localhost', 'sidechart.localhost'] as const;
const PATIENT_PATH = '/__test/whoami?patient_id=836447129235883061';
const at = (host: string) => `http://${host}:${PUBLIC_PORT}`;

t.test('sign-in links follow the base domain the request came in on', async (t) => {
  const accounts = { alice: { email: 'alice@clinic-a.example' } };
  const platform = await startOidcProvider({
    clients: [{ client_id: 'sidechart-platform', client_secret: 'platform-secret', redirect_uris: BASE_DOMAINS.map((d) => `${at(`auth.${d}`)}/sso/acmeid/callback`) }],
    accounts,
  });
  const own = await startOidcProvider({
    clients: [{ client_id: 'clinic-a', client_secret: 'clinic-secret', redirect_uris: BASE_DOMAINS.map((d) => `${at(`clinica.${d}`)}/login/oidc/callback`) }],
    accounts,
  });
  t.teardown(() => Promise.all([platform.close(), own.close()]));

  const { runtime, env, address } = await buildTestApp(t, {
    listen: true,
    env: {
      ...TEST_AUTH_ENV,
      BASE_DOMAIN: BASE_DOMAINS.join(','),
      PUBLIC_PORT,
      PLATFORM_OIDC_PROVIDERS: JSON.stringify([{ id: 'acmeid', name: 'AcmeID', issuer: platform.issuer, clientId: 'sidechart-platform', clientSecret: 'platform-secret' }]),
    },
    extend: registerEchoRoutes,
  });
  const { browser } = proxiedBrowsers(t, PUBLIC_PORT, address!);
  await runtime.tenants.create({ slug: 'clinica', displayName: 'Clinic A' });
  const configured = await cli(env, ['sso', 'configure', 'clinica', '--issuer', own.issuer, '--client-id', 'clinic-a', '--client-secret-stdin', '--platform-providers', 'acmeid', '--admit', 'domain', '--allowed-domains', 'clinic-a.example'], { stdin: 'clinic-secret\n' });
  t.equal(configured.code, 0, configured.err);

  await t.test('the CLI prints a redirect URI per base domain to register', async (t) => {
    for (const domain of BASE_DOMAINS) t.match(configured.out, `register this redirect URI at the clinic's provider: ${at(`clinica.${domain}`)}/login/oidc/callback`);
    const providers = await cli(env, ['sso', 'providers', '--json']);
    t.same((JSON.parse(providers.out) as { redirectUris: string[] }[])[0]?.redirectUris, BASE_DOMAINS.map((d) => `${at(`auth.${d}`)}/sso/acmeid/callback`));
  });

  for (const domain of BASE_DOMAINS) {
    const clinic = at(`clinica.${domain}`);

    await t.test(`platform provider, started on ${domain}`, async (t) => {
      const b = browser();
      await b.get(`${clinic}${PATIENT_PATH}`, { crossSite: true });
      const toAuthHost = new URL((await b.get(`${clinic}/login/sso/acmeid`)).location!);
      t.equal(`${toAuthHost.origin}${toAuthHost.pathname}`, `${at(`auth.${domain}`)}/sso/acmeid/start`, 'the auth host of the same base domain');
      const toProvider = await b.get(toAuthHost.href);
      t.equal(toProvider.status, 303, toProvider.body.slice(0, 300));
      const authorize = new URL(toProvider.location!);
      t.equal(authorize.searchParams.get('redirect_uri'), `${at(`auth.${domain}`)}/sso/acmeid/callback`, 'redirect URI on that base domain');
      const toClinic = await b.get(await platform.completeAuthorization(authorize, 'alice'));
      t.equal(toClinic.status, 303, toClinic.body.slice(0, 300));
      t.equal(new URL(toClinic.location!).origin, clinic, 'the hand-off goes back to the host the sign-in started on');
      const back = await b.get(toClinic.location!);
      t.equal(back.status, 303, back.body.slice(0, 300));
      t.equal(back.location, PATIENT_PATH);
      t.match((await b.get(`${clinic}${PATIENT_PATH}`)).json(), { user: { email: 'alice@clinic-a.example' } }, 'signed in');
    });

    await t.test(`the clinic's own provider, started on ${domain}`, async (t) => {
      const b = browser();
      await b.get(`${clinic}${PATIENT_PATH}`, { crossSite: true });
      const authorize = new URL((await b.get(`${clinic}/login/oidc`)).location!);
      t.equal(authorize.origin, own.issuer);
      t.equal(authorize.searchParams.get('redirect_uri'), `${clinic}/login/oidc/callback`, 'redirect URI on that base domain');
      const back = await b.get(await own.completeAuthorization(authorize, 'alice'));
      t.equal(back.status, 303, back.body.slice(0, 300));
      t.equal(back.location, PATIENT_PATH);
      t.match((await b.get(`${clinic}${PATIENT_PATH}`)).json(), { user: { email: 'alice@clinic-a.example' } }, 'signed in');
    });
  }

  await t.test('a start link made on one base domain is refused on the other\'s auth host', async (t) => {
    const b = browser();
    const made = new URL((await b.get(`${at('clinica.localhost')}/login/sso/acmeid`)).location!);
    const elsewhere = await b.get(`${at('auth.sidechart.localhost')}/sso/acmeid/start${made.search}`, { json: true });
    t.equal(elsewhere.status, 400);
    t.match(elsewhere.json(), { error: 'sso_attempt_missing' });
  });
});
