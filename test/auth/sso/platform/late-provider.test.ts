// A platform provider that is down when the app boots becomes usable without a restart: a real
// identity provider (oidc-provider on loopback) is started only after the app, on the port its
// PLATFORM_OIDC_PROVIDERS entry names. The retry is driven by the app's clock (moved, not waited
// for) through the on-demand path: a sign-in asks for the provider again once the wait is over.
import t from 'tap';
import { buildTestApp, cli } from '../../../helpers/app.ts';
import { freePort } from '../../../helpers/net.ts';
import { startOidcProvider } from '../../../helpers/oidc-provider.ts';
import { proxiedBrowsers, registerEchoRoutes, TEST_AUTH_ENV } from '../../../helpers/fixtures.ts';

const PUBLIC_PORT = '47803';
const AUTH = `http://auth.localhost:${PUBLIC_PORT}`;
const PATIENT_PATH = '/__test/whoami?patient_id=836447129235883061';
const MIN_WAIT_MS = 60_000;

t.test('a platform provider down at boot: a clear page meanwhile, sign-in once it answers', async (t) => {
  const providerPort = await freePort();
  let clock = Date.now();
  const { runtime, env, address } = await buildTestApp(t, {
    listen: true,
    now: () => clock,
    env: {
      ...TEST_AUTH_ENV,
      PUBLIC_PORT,
      PLATFORM_OIDC_PROVIDERS: JSON.stringify([
        { id: 'lateid', name: 'LateID', issuer: `http://127.0.0.1:${providerPort}`, clientId: 'sidechart-platform', clientSecret: 'platform-secret' },
      ]),
      // Long enough that no background retry fires during the test: the on-demand path is under test.
      OIDC_DISCOVERY_RETRY_MIN_MS: String(MIN_WAIT_MS),
      OIDC_DISCOVERY_RETRY_MAX_MS: String(10 * MIN_WAIT_MS),
    },
    extend: registerEchoRoutes,
  });
  const { origin, browser } = proxiedBrowsers(t, PUBLIC_PORT, address!);
  await runtime.tenants.create({ slug: 'clinica', displayName: 'Clinic A' });
  const configured = await cli(env, ['sso', 'configure', 'clinica', '--platform-providers', 'lateid', '--admit', 'domain', '--allowed-domains', 'clinic-a.example']);
  t.equal(configured.code, 0, configured.err);

  t.equal(runtime.platformProviders.find('lateid')?.available, false, 'discovery at boot failed: nothing listens on the issuer\'s port');
  const b = browser();
  t.equal((await b.get(`${origin('clinica')}${PATIENT_PATH}`, { crossSite: true })).location, '/login');
  const login = await b.get(`${origin('clinica')}/login`);
  t.equal(login.status, 200, 'the sign-in page itself still works');
  t.match(login.body, /id="sign-in-platform-lateid" *>Sign in with LateID \(temporarily unavailable\)/, 'the button says the provider is down');
  const down = await b.get(`${origin('clinica')}/login/sso/lateid`);
  t.equal(down.status, 503);
  t.match(down.body, /LateID is not answering right now/);
  t.ok(down.header('retry-after'), 'with a Retry-After');
  t.match(down.body, `href="/login"`, 'and a way back to the sign-in page');
  t.notMatch(down.body, /ECONNREFUSED|fetch failed|127\.0\.0\.1/, 'nothing internal');

  const platform = await startOidcProvider({
    port: providerPort,
    clients: [{ client_id: 'sidechart-platform', client_secret: 'platform-secret', redirect_uris: [`${AUTH}/sso/lateid/callback`] }],
    accounts: { alice: { email: 'alice@clinic-a.example', name: 'Alice A' } },
  });
  t.teardown(() => platform.close());

  // The provider answers now, but the wait after the failure is not over: it is not asked yet.
  clock += MIN_WAIT_MS - 1_000;
  t.equal((await b.get(`${origin('clinica')}/login/sso/lateid`)).status, 503, 'within the wait: still the 503 page, the provider left alone');
  t.equal(runtime.platformProviders.find('lateid')?.available, false);

  // Wait over: the next sign-in discovers the provider again, and goes through.
  clock += 1_000;
  const toAuthHost = await b.get(`${origin('clinica')}/login/sso/lateid`);
  t.equal(toAuthHost.status, 303, toAuthHost.body.slice(0, 300));
  t.equal(runtime.platformProviders.find('lateid')?.available, true, 'available without a restart');
  const toProvider = await b.get(toAuthHost.location!);
  t.equal(toProvider.status, 303, toProvider.body.slice(0, 300));
  const authorize = new URL(toProvider.location!);
  t.equal(authorize.origin, platform.issuer);
  t.equal(authorize.searchParams.get('redirect_uri'), `${AUTH}/sso/lateid/callback`);
  const toClinic = await b.get(await platform.completeAuthorization(authorize, 'alice'));
  t.equal(toClinic.status, 303, toClinic.body.slice(0, 300));
  const back = await b.get(toClinic.location!);
  t.equal(back.status, 303, back.body.slice(0, 300));
  t.equal(back.location, PATIENT_PATH, 'back at the page the user wanted');
  const page = await b.get(`${origin('clinica')}${PATIENT_PATH}`);
  t.equal(page.status, 200);
  t.match(page.json(), { user: { email: 'alice@clinic-a.example' } }, 'signed in with the provider that was down at boot');
  const again = await browser().get(`${origin('clinica')}/login`);
  t.match(again.body, /id="sign-in-platform-lateid" *>Sign in with LateID</, 'and its button no longer says it is down');
});
