// Deadlines on the client's side (issue 10, finding 3: a body that never arrived was never timed
// out): a request whose body or headers stop coming gets a 408 and its socket closed. Awaited as
// socket events; the deadlines are configured short, nothing here sleeps.
import t from 'tap';
import { loadConfig } from '../../src/config.ts';
import { buildTestApp } from '../helpers/app.ts';
import { rawExchange } from '../helpers/net.ts';

t.test('configuration: defaults, and a headers deadline past the request deadline is refused', async (t) => {
  t.same(loadConfig({}).http, { requestTimeoutMs: 30_000, headersTimeoutMs: 10_000, keepAliveTimeoutMs: 65_000, socketTimeoutMs: 120_000 });
  t.throws(() => loadConfig({ HTTP_REQUEST_TIMEOUT_MS: '1000', HTTP_HEADERS_TIMEOUT_MS: '2000' }), /HTTP_HEADERS_TIMEOUT_MS: must not exceed HTTP_REQUEST_TIMEOUT_MS/);
});


t.test('a body or headers that never finish: 408 and the socket closed', async (t) => {
  const { address, runtime } = await buildTestApp(t, { listen: true, env: { HTTP_REQUEST_TIMEOUT_MS: '1000', HTTP_HEADERS_TIMEOUT_MS: '500' } });
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme' });
  const port = Number(new URL(address!).port);

  const body = await rawExchange(port, 'POST /login HTTP/1.1\r\nHost: acme.localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail=');
  t.match(body, /^HTTP\/1\.1 408/, 'announced 1000 bytes, sent 6: 408');
  const headers = await rawExchange(port, 'GET /login HTTP/1.1\r\nHost: acme.localhost\r\nX-Slow: ');
  t.match(headers, /^HTTP\/1\.1 408/, 'headers never finished: 408');

  // A request that does arrive is served as always.
  const ok = await rawExchange(port, 'GET /login HTTP/1.1\r\nHost: acme.localhost\r\nConnection: close\r\n\r\n');
  t.match(ok, /^HTTP\/1\.1 200/);
});
