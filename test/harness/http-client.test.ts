// The browser-like HTTP client (test/helpers/http-client.ts) drives the auth, patient and tenancy
// tests over real HTTP, and they trust its cookie jar to behave as a browser does. A jar that sent
// one clinic's session cookie to another clinic's host, kept a Secure cookie over plain http, or
// sent SameSite cookies on a cross-site POST would make those tests pass or fail for the wrong
// reason. These checks pin the behaviours they rely on.
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { createHttpClient } from '../helpers/http-client.ts';

interface Seen {
  method: string | undefined;
  path: string | undefined;
  headers: IncomingHttpHeaders;
}

/** A server that records every request and answers `/set` and `/clear` with cookies. */
async function cookieServer(t: { teardown(fn: () => unknown): void }): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ method: req.method, path: req.url, headers: req.headers });
    req.resume();
    if (req.url === '/set') {
      res.writeHead(303, {
        location: '/next',
        'set-cookie': ['sid=abc; Path=/; HttpOnly; SameSite=Lax', 'strict=1; Path=/; SameSite=Strict', 'plain=1; Path=/', 'scoped=1; Path=/admin'],
      });
    } else if (req.url === '/clear') {
      res.writeHead(200, { 'set-cookie': 'sid=; Path=/; Max-Age=0' });
    }
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, seen };
}

t.test('redirects are returned, not followed; *.localhost reaches loopback with its own Host header', async (t) => {
  const { port, seen } = await cookieServer(t);
  const http = createHttpClient();
  t.teardown(() => http.close());
  const a = `http://a.localhost:${port}`;

  const res = await http.get(`${a}/set`);
  t.equal(res.status, 303);
  t.equal(res.location, '/next');
  t.equal(res.redirectUrl, `${a}/next`);
  t.equal(res.setCookie.length, 4, 'the raw Set-Cookie lines');
  t.equal(seen.length, 1, 'one request: the redirect was not followed');
  t.equal(seen[0]?.headers.host, `a.localhost:${port}`, 'the Host header a browser sends, which picks the clinic');
});

t.test('cookies over real requests: per host, per path, SameSite on cross-site requests', async (t) => {
  const { port, seen } = await cookieServer(t);
  const http = createHttpClient();
  t.teardown(() => http.close());
  const a = `http://a.localhost:${port}`;
  const b = `http://b.localhost:${port}`;
  const lastCookie = () => seen.at(-1)?.headers.cookie;
  await http.get(`${a}/set`);

  await http.get(`${a}/next`);
  t.equal(lastCookie(), 'sid=abc; strict=1; plain=1', 'same-site: every cookie for the path, oldest first');
  await http.get(`${a}/admin/x`);
  t.equal(lastCookie(), 'scoped=1; sid=abc; strict=1; plain=1', 'a longer path comes first');

  await http.get(`${b}/next`);
  t.equal(lastCookie(), undefined, "a host-only cookie of one clinic's host is not sent to another's");
  t.same(http.cookies('b.localhost'), []);
  t.match(http.cookies('a.localhost'), [
    { name: 'sid', value: 'abc', domain: 'a.localhost', hostOnly: true, httpOnly: true, secure: false, sameSite: 'Lax', path: '/', expiresAt: undefined },
    { name: 'strict', sameSite: 'Strict' },
    { name: 'plain', sameSite: undefined },
    { name: 'scoped', path: '/admin' },
  ]);

  await http.get(`${a}/next`, { crossSite: true });
  t.equal(lastCookie(), 'sid=abc; plain=1', 'cross-site top-level GET: Lax and unmarked cookies sent, Strict not');
  await http.post(`${a}/next`, { x: '1' }, { crossSite: true });
  t.equal(lastCookie(), undefined, 'cross-site POST: no Lax, Strict or unmarked cookie');

  await http.get(`${a}/next`, { headers: { cookie: 'sid=stolen' } });
  t.equal(lastCookie(), 'sid=stolen', 'an explicit cookie header replaces the jar');

  await http.get(`${a}/clear`);
  t.equal(http.cookieHeader(`${a}/`), 'strict=1; plain=1', 'Max-Age=0 deletes the cookie');
  t.notOk(http.cookies('a.localhost').some((c) => c.name === 'sid'));
});

t.test('cookie storage rules', async (t) => {
  const cases: { name: string; url: string; line: string; stored: boolean; sentTo?: string; header?: string; treatAsHttps?: boolean }[] = [
    { name: 'host-only not sent to a subdomain', url: 'http://a.localhost/', line: 'k=v', stored: true, sentTo: 'http://x.a.localhost/', header: '' },
    { name: 'Domain cookie sent to a subdomain', url: 'http://a.example.test/', line: 'k=v; Domain=example.test', stored: true, sentTo: 'http://b.example.test/', header: 'k=v' },
    { name: 'Domain of another site rejected', url: 'http://a.example.test/', line: 'k=v; Domain=other.test', stored: false },
    { name: 'Domain=localhost rejected (it would reach every clinic)', url: 'http://a.localhost/', line: 'k=v; Domain=localhost', stored: false },
    { name: 'default path is the directory', url: 'http://a.localhost/p/q', line: 'k=v', stored: true, sentTo: 'http://a.localhost/', header: '' },
    { name: 'default path matches below', url: 'http://a.localhost/p/q', line: 'k=v', stored: true, sentTo: 'http://a.localhost/p/r', header: 'k=v' },
    { name: 'a path prefix is not a path match', url: 'http://a.localhost/', line: 'k=v; Path=/adm', stored: true, sentTo: 'http://a.localhost/admin', header: '' },
    { name: 'Secure over http rejected', url: 'http://a.localhost/', line: 'k=v; Secure', stored: false },
    { name: 'http://localhost is not a secure context', url: 'http://localhost/', line: 'k=v; Secure', stored: false },
    { name: 'http://127.0.0.1 is not a secure context', url: 'http://127.0.0.1/', line: 'k=v; Secure', stored: false },
    { name: 'Secure kept over https, not sent over http', url: 'https://a.localhost/', line: 'k=v; Secure', stored: true, sentTo: 'http://a.localhost/', header: '' },
    { name: 'Secure sent over https', url: 'https://a.localhost/', line: 'k=v; Secure', stored: true, sentTo: 'https://a.localhost/', header: 'k=v' },
    { name: '__Host- over http rejected', url: 'http://a.localhost/', line: '__Host-s=v; Secure; Path=/', stored: false },
    { name: '__Host- valid over https', url: 'https://a.localhost/', line: '__Host-s=v; Secure; Path=/', stored: true, sentTo: 'https://a.localhost/x', header: '__Host-s=v' },
    { name: '__Host- with Domain rejected', url: 'https://a.localhost/', line: '__Host-s=v; Secure; Path=/; Domain=a.localhost', stored: false },
    { name: '__Host- without Path=/ rejected', url: 'https://a.localhost/x/y', line: '__Host-s=v; Secure', stored: false },
    { name: '__Host- without Secure rejected', url: 'https://a.localhost/', line: '__Host-s=v; Path=/', stored: false },
    { name: '__Secure- without Secure rejected', url: 'https://a.localhost/', line: '__Secure-s=v', stored: false },
    { name: 'treatAsHttps: __Host- stored and sent over http, as behind a TLS proxy', url: 'http://a.localhost/', line: '__Host-s=v; Secure; Path=/', stored: true, sentTo: 'http://a.localhost/', header: '__Host-s=v', treatAsHttps: true },
    { name: 'expired Expires not kept', url: 'http://a.localhost/', line: 'k=v; Expires=Thu, 01 Jan 1970 00:00:00 GMT', stored: true, sentTo: 'http://a.localhost/', header: '' },
    { name: 'Max-Age wins over Expires', url: 'http://a.localhost/', line: 'k=v; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT', stored: true, sentTo: 'http://a.localhost/', header: 'k=v' },
    { name: 'negative Max-Age not kept', url: 'http://a.localhost/', line: 'k=v; Max-Age=-1', stored: true, sentTo: 'http://a.localhost/', header: '' },
    { name: 'another port of the same host shares cookies', url: 'http://a.localhost:1/', line: 'k=v', stored: true, sentTo: 'http://a.localhost:2/', header: 'k=v' },
  ];
  for (const c of cases) {
    const http = createHttpClient({ treatAsHttps: c.treatAsHttps === true });
    t.equal(http.setCookie(c.url, c.line), c.stored, `${c.name}: stored`);
    if (c.sentTo !== undefined) t.equal(http.cookieHeader(c.sentTo), c.header, `${c.name}: Cookie header`);
    await http.close();
  }

  const http = createHttpClient();
  t.teardown(() => http.close());
  http.setCookie('http://a.example.test/', 'k=v; Domain=example.test');
  t.match(http.cookies('b.example.test'), [{ name: 'k', domain: 'example.test', hostOnly: false }], 'a Domain cookie is reported as such');
});
