// Proves the test helpers: real OpenID Providers on loopback driven without a browser,
// the browser-like HTTP client and its cookie jar, and headless Chromium.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import t from 'tap';
import { BROWSER_SKIP_MESSAGE, browserAvailable, launchBrowser } from '../helpers/browser.ts';
import { createHttpClient, json } from '../helpers/http-client.ts';
import { startOidcProvider } from '../helpers/oidc-provider.ts';
import type { OidcTestProvider } from '../helpers/oidc-provider.ts';

const REDIRECT_URI = 'http://acme.localhost:4999/auth/callback';

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

function configFor(op: OidcTestProvider, clientId: string, secret: string): Promise<client.Configuration> {
  return client.discovery(new URL(op.issuer), clientId, undefined, client.ClientSecretBasic(secret), {
    execute: [client.allowInsecureRequests],
  });
}

interface Attempt { url: URL; verifier: string; state: string; nonce: string }

async function startLogin(config: client.Configuration): Promise<Attempt> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid email profile',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  return { url, verifier, state, nonce };
}

t.test('OIDC providers on loopback: code + PKCE + state + nonce + iss, mix-up refused', async (t) => {
  const accounts = {
    alice: { email: 'alice@acme.example', name: 'Alice Example' },
    bob: { email: 'bob@other.example', email_verified: false },
  };
  const clients = [{ client_id: 'sidechart', client_secret: 'secret-a', redirect_uris: [REDIRECT_URI] }];
  // Two clinics' providers and a platform provider, all at once.
  const [clinicA, clinicB, platform] = await Promise.all([
    startOidcProvider({ clients, accounts }),
    startOidcProvider({ clients: [{ ...clients[0]!, client_secret: 'secret-b' }], accounts }),
    startOidcProvider({ clients: [{ client_id: 'platform', client_secret: 'secret-p', redirect_uris: [REDIRECT_URI] }], accounts }),
  ]);
  t.teardown(() => Promise.all([clinicA.close(), clinicB.close(), platform.close()]));
  t.not(clinicA.issuer, clinicB.issuer);
  t.match(clinicA.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);

  const configA = await configFor(clinicA, 'sidechart', 'secret-a');
  const configB = await configFor(clinicB, 'sidechart', 'secret-b');
  const configP = await configFor(platform, 'platform', 'secret-p');
  t.equal(configA.serverMetadata().issuer, clinicA.issuer);
  t.equal(configA.serverMetadata().authorization_response_iss_parameter_supported, true);
  t.same(configA.serverMetadata().code_challenge_methods_supported, ['S256']);

  await t.test('full login: ID token validated, claims present', async (t) => {
    const attempt = await startLogin(configA);
    const callback = await clinicA.completeAuthorization(attempt.url, 'alice');
    const cb = new URL(callback);
    t.equal(`${cb.origin}${cb.pathname}`, REDIRECT_URI, 'returns the redirect to the client callback, not followed');
    t.equal(cb.searchParams.get('state'), attempt.state);
    t.equal(cb.searchParams.get('iss'), clinicA.issuer, 'RFC 9207 iss parameter');
    t.ok(cb.searchParams.get('code'));

    const tokens = await client.authorizationCodeGrant(configA, cb, {
      pkceCodeVerifier: attempt.verifier,
      expectedState: attempt.state,
      expectedNonce: attempt.nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    t.match(claims, {
      iss: clinicA.issuer,
      aud: 'sidechart',
      sub: 'alice',
      nonce: attempt.nonce,
      email: 'alice@acme.example',
      email_verified: true,
      name: 'Alice Example',
    });
    const header = JSON.parse(Buffer.from(tokens.id_token!.split('.')[0]!, 'base64url').toString()) as { alg: string; kid: string };
    t.equal(header.alg, 'RS256');
    t.equal(header.kid, clinicA.signingKey.kid, 'signed with the key generated at start');
    const userinfo = await client.fetchUserInfo(configA, tokens.access_token, 'alice');
    t.match(userinfo, { sub: 'alice', email: 'alice@acme.example', email_verified: true, name: 'Alice Example' });

    // The same code a second time is refused by the provider.
    const replay = await client.authorizationCodeGrant(configA, cb, {
      pkceCodeVerifier: attempt.verifier,
      expectedState: attempt.state,
      expectedNonce: attempt.nonce,
    }).then(() => undefined, (err: unknown) => err);
    t.match(replay, { error: 'invalid_grant' }, 'replayed code refused');
  });

  await t.test('platform provider login for another account', async (t) => {
    const attempt = await startLogin(configP);
    const cb = new URL(await platform.completeAuthorization(attempt.url, 'bob'));
    const tokens = await client.authorizationCodeGrant(configP, cb, {
      pkceCodeVerifier: attempt.verifier,
      expectedState: attempt.state,
      expectedNonce: attempt.nonce,
      idTokenExpected: true,
    });
    t.match(tokens.claims(), { iss: platform.issuer, aud: 'platform', sub: 'bob', email: 'bob@other.example', email_verified: false });
    t.notOk('name' in (tokens.claims() ?? {}), 'no name claim when the account has none');
  });

  await t.test('mix-up: callback from provider A fed to the client for provider B is refused', async (t) => {
    const attempt = await startLogin(configA);
    const cb = new URL(await clinicA.completeAuthorization(attempt.url, 'alice'));
    await t.rejects(client.authorizationCodeGrant(configB, cb, {
      pkceCodeVerifier: attempt.verifier,
      expectedState: attempt.state,
      expectedNonce: attempt.nonce,
    }), { cause: { message: /unexpected "iss"/ } });

    // Without the iss parameter the client refuses too: the provider advertises it.
    const stripped = new URL(cb);
    stripped.searchParams.delete('iss');
    await t.rejects(client.authorizationCodeGrant(configA, stripped, {
      pkceCodeVerifier: attempt.verifier,
      expectedState: attempt.state,
      expectedNonce: attempt.nonce,
    }), { cause: { message: /"iss"/ } });
  });

  await t.test('state and nonce are checked', async (t) => {
    const attempt = await startLogin(configA);
    const cb = new URL(await clinicA.completeAuthorization(attempt.url, 'alice'));
    await t.rejects(client.authorizationCodeGrant(configA, cb, {
      pkceCodeVerifier: attempt.verifier,
      expectedState: client.randomState(),
      expectedNonce: attempt.nonce,
    }), { cause: { message: /unexpected "state"/ } }, 'state mismatch');

    const other = await startLogin(configA);
    const cb2 = new URL(await clinicA.completeAuthorization(other.url, 'alice'));
    await t.rejects(client.authorizationCodeGrant(configA, cb2, {
      pkceCodeVerifier: other.verifier,
      expectedState: other.state,
      expectedNonce: client.randomNonce(),
    }), { cause: { message: /"nonce"/ } }, 'nonce mismatch');
  });

  await t.test('PKCE is required; unknown redirect_uri never redirects', async (t) => {
    const noPkce = client.buildAuthorizationUrl(configA, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid email profile',
      state: 'x',
    });
    const cb = new URL(await clinicA.completeAuthorization(noPkce, 'alice'));
    t.equal(cb.searchParams.get('error'), 'invalid_request');
    t.match(cb.searchParams.get('error_description') ?? '', /PKCE/);

    const attempt = await startLogin(configA);
    attempt.url.searchParams.set('redirect_uri', 'http://evil.localhost/cb');
    await t.rejects(clinicA.completeAuthorization(attempt.url, 'alice'), { message: /redirect_uri/ });
  });

  await t.test('consent denied -> access_denied at the callback', async (t) => {
    const attempt = await startLogin(configA);
    const cb = new URL(await clinicA.completeAuthorization(attempt.url, 'alice', { deny: true }));
    t.equal(cb.searchParams.get('error'), 'access_denied');
    t.equal(cb.searchParams.get('iss'), clinicA.issuer);
  });

  await t.test('provider down: close() and the issuer refuses connections', async (t) => {
    const down = await startOidcProvider({ clients, accounts });
    const http = createHttpClient();
    t.teardown(() => http.close());
    const before = await http.get(`${down.issuer}/.well-known/openid-configuration`);
    t.equal(before.status, 200);
    await down.close();
    t.equal(down.closed, true);
    await t.rejects(http.get(`${down.issuer}/.well-known/openid-configuration`), { code: 'ECONNREFUSED' });
    await t.rejects(configFor(down, 'sidechart', 'secret-a'), 'discovery fails');
  });
});

t.test('http client: no redirects followed, *.localhost resolved, host-only cookies', async (t) => {
  const seen: { host: string | undefined; cookie: string | undefined; path: string | undefined }[] = [];
  const { server, port } = await listen((req, res) => {
    seen.push({ host: req.headers.host, cookie: req.headers.cookie, path: req.url });
    if (req.url === '/set') {
      res.writeHead(303, { location: '/next', 'set-cookie': ['sid=abc; Path=/; HttpOnly; SameSite=Lax', 'scoped=1; Path=/admin'] });
      res.end();
      return;
    }
    if (req.url === '/clear') {
      res.writeHead(200, { 'set-cookie': 'sid=; Path=/; Max-Age=0' });
      res.end('cleared');
      return;
    }
    if (req.method === 'POST') {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: req.headers['content-type'], body }));
      });
      return;
    }
    res.end('ok');
  });
  t.teardown(() => stop(server));
  const http = createHttpClient({ resolveLocalhost: true });
  t.teardown(() => http.close());
  const a = `http://a.localhost:${port}`;
  const b = `http://b.localhost:${port}`;

  const first = await http.get(`${a}/set`);
  t.equal(first.status, 303, 'redirect returned, not followed');
  t.equal(first.location, '/next');
  t.equal(first.redirectUrl, `${a}/next`);
  t.same(first.setCookie, ['sid=abc; Path=/; HttpOnly; SameSite=Lax', 'scoped=1; Path=/admin']);
  t.equal(seen.length, 1);
  t.equal(seen[0]?.host, `a.localhost:${port}`, 'Host header as a browser sends it');

  await http.get(`${a}/next`);
  t.equal(seen.at(-1)?.cookie, 'sid=abc', 'host-only cookie sent back to a.localhost');
  await http.get(`${a}/admin/x`);
  t.equal(seen.at(-1)?.cookie, 'scoped=1; sid=abc', 'longer path first');
  await http.get(`${b}/next`);
  t.equal(seen.at(-1)?.host, `b.localhost:${port}`);
  t.equal(seen.at(-1)?.cookie, undefined, 'host-only cookie of a.localhost not sent to b.localhost');
  t.same(http.cookies('b.localhost'), []);
  t.match(http.cookies('a.localhost'), [{ name: 'sid', value: 'abc', hostOnly: true, httpOnly: true, sameSite: 'Lax', path: '/' }, { name: 'scoped' }]);

  await http.get(`${a}/next`, { crossSite: true });
  t.equal(seen.at(-1)?.cookie, 'sid=abc', 'Lax cookie sent on a cross-site top-level GET');
  await http.post(`${a}/form`, { x: '1' }, { crossSite: true });
  t.equal(seen.at(-1)?.cookie, undefined, 'Lax cookie not sent on a cross-site POST');

  const form = await http.post(`${a}/form`, { a: '1', b: ['2', '3'] });
  t.same(form.json(), { type: 'application/x-www-form-urlencoded', body: 'a=1&b=2&b=3' });
  const posted = await http.post(`${a}/json`, json({ hello: 'world' }));
  t.same(posted.json(), { type: 'application/json', body: '{"hello":"world"}' });

  await http.get(`${a}/next`, { headers: { cookie: 'sid=stolen' } });
  t.equal(seen.at(-1)?.cookie, 'sid=stolen', 'an explicit cookie header replaces the jar');

  await http.get(`${a}/clear`);
  t.equal(http.cookieHeader(`${a}/`), '', 'Max-Age=0 deletes the cookie');
});

t.test('cookie jar storage rules (table)', async (t) => {
  const cases: { name: string; url: string; line: string; stored: boolean; sentTo?: string; header?: string; treatAsHttps?: boolean }[] = [
    { name: 'host-only', url: 'http://a.localhost/', line: 'k=v', stored: true, sentTo: 'http://a.localhost/', header: 'k=v' },
    { name: 'host-only not to subdomain', url: 'http://a.localhost/', line: 'k=v', stored: true, sentTo: 'http://x.a.localhost/', header: '' },
    { name: 'Domain cookie to subdomain', url: 'http://a.example.test/', line: 'k=v; Domain=example.test', stored: true, sentTo: 'http://b.example.test/', header: 'k=v' },
    { name: 'Domain of another site rejected', url: 'http://a.example.test/', line: 'k=v; Domain=other.test', stored: false },
    { name: 'single-label Domain rejected', url: 'http://a.localhost/', line: 'k=v; Domain=localhost', stored: false },
    { name: 'default path is the directory', url: 'http://a.localhost/p/q', line: 'k=v', stored: true, sentTo: 'http://a.localhost/', header: '' },
    { name: 'default path matches below', url: 'http://a.localhost/p/q', line: 'k=v', stored: true, sentTo: 'http://a.localhost/p/r', header: 'k=v' },
    { name: 'path prefix is not a path match', url: 'http://a.localhost/', line: 'k=v; Path=/adm', stored: true, sentTo: 'http://a.localhost/admin', header: '' },
    { name: 'Secure over http rejected', url: 'http://a.localhost/', line: 'k=v; Secure', stored: false },
    { name: 'Secure over https kept, not sent over http', url: 'https://a.localhost/', line: 'k=v; Secure', stored: true, sentTo: 'http://a.localhost/', header: '' },
    { name: 'Secure sent over https', url: 'https://a.localhost/', line: 'k=v; Secure', stored: true, sentTo: 'https://a.localhost/', header: 'k=v' },
    { name: '__Host- over http rejected', url: 'http://a.localhost/', line: '__Host-s=v; Secure; Path=/', stored: false },
    { name: '__Host- valid over https', url: 'https://a.localhost/', line: '__Host-s=v; Secure; Path=/', stored: true, sentTo: 'https://a.localhost/x', header: '__Host-s=v' },
    { name: '__Host- with Domain rejected', url: 'https://a.localhost/', line: '__Host-s=v; Secure; Path=/; Domain=a.localhost', stored: false },
    { name: '__Host- without Path=/ rejected', url: 'https://a.localhost/x/y', line: '__Host-s=v; Secure', stored: false },
    { name: '__Host- without Secure rejected', url: 'https://a.localhost/', line: '__Host-s=v; Path=/', stored: false },
    { name: '__Secure- without Secure rejected', url: 'https://a.localhost/', line: '__Secure-s=v', stored: false },
    { name: '__Host- accepted behind a TLS proxy', url: 'http://a.localhost/', line: '__Host-s=v; Secure; Path=/', stored: true, sentTo: 'http://a.localhost/', header: '__Host-s=v', treatAsHttps: true },
    { name: 'expired Expires not kept', url: 'http://a.localhost/', line: 'k=v; Expires=Thu, 01 Jan 1970 00:00:00 GMT', stored: true, sentTo: 'http://a.localhost/', header: '' },
    { name: 'Max-Age wins over Expires', url: 'http://a.localhost/', line: 'k=v; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT', stored: true, sentTo: 'http://a.localhost/', header: 'k=v' },
    { name: 'negative Max-Age not kept', url: 'http://a.localhost/', line: 'k=v; Max-Age=-1', stored: true, sentTo: 'http://a.localhost/', header: '' },
    { name: 'other port same host shares cookies', url: 'http://a.localhost:1/', line: 'k=v', stored: true, sentTo: 'http://a.localhost:2/', header: 'k=v' },
  ];
  for (const c of cases) {
    const http = createHttpClient({ treatAsHttps: c.treatAsHttps === true });
    t.equal(http.setCookie(c.url, c.line), c.stored, `${c.name}: stored`);
    if (c.sentTo !== undefined) t.equal(http.cookieHeader(c.sentTo), c.header, `${c.name}: Cookie header`);
    await http.close();
  }
});

t.test('headless Chromium loads a *.localhost page and clicks a link', { skip: browserAvailable() ? false : BROWSER_SKIP_MESSAGE }, async (t) => {
  const hosts: string[] = [];
  const { server, port } = await listen((req, res) => {
    hosts.push(`${req.headers.host ?? ''} ${req.url ?? ''}`);
    res.setHeader('content-type', 'text/html; charset=utf-8');
    if (req.url === '/next') res.end('<!doctype html><title>Next</title><h1 id="done">arrived</h1>');
    else if (req.url === '/') res.end('<!doctype html><title>Start</title><a id="go" href="/next">go</a>');
    else {
      res.statusCode = 404;
      res.end('not found');
    }
  });
  t.teardown(() => stop(server));
  const browser = await launchBrowser();
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const response = await page.goto(`http://x.localhost:${port}/`);
  t.equal(response?.status(), 200);
  t.equal(await page.title(), 'Start');
  await Promise.all([page.waitForURL(`http://x.localhost:${port}/next`), page.click('#go')]);
  t.equal(await page.textContent('#done'), 'arrived');
  t.ok(hosts.includes(`x.localhost:${port} /`) && hosts.includes(`x.localhost:${port} /next`), 'requests reached the server with the x.localhost Host');
});
