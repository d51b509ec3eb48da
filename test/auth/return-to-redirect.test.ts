// The open-redirect list over real HTTP: hostile original URLs (sent byte for byte, not normalized
// by a client library) go through the sign-in redirect and sign-in, and the user never lands
// anywhere but a path on the clinic's own host. A `return_to` parameter is not accepted at all.
import net from 'node:net';
import t from 'tap';
import { Signer } from '@fastify/cookie';
import { returnToCookieKey } from '../../src/auth/return-to-cookie.ts';
import { PASSWORD, addUser, client, signInWithPassword, startAuthApp } from '../helpers/fixtures.ts';

interface RawResponse {
  status: number;
  headers: Map<string, string[]>;
}

/** One request with the request-target exactly as given. */
function rawGet(port: string, host: string, target: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk) => (data += chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const [head = ''] = data.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = new Map<string, string[]>();
      for (const line of lines) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim().toLowerCase();
        headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers });
    });
    socket.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, 'latin1');
  });
}

t.test('hostile original URLs never lead off the clinic host', async (t) => {
  const { runtime, origin, port } = await startAuthApp(t);
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await runtime.tenants.create({ slug: 'other', displayName: 'Other' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  const acme = origin('acme');
  const host = `acme.localhost:${port}`;

  const hostile = [
    '//evil.com',
    '//evil.com/',
    '///evil.com',
    '////evil.com',
    '/\\evil.com',
    '/\\/evil.com',
    '\\\\evil.com',
    '\\/evil.com',
    'https:evil.com',
    'https://evil.com/',
    'http://other.localhost/',
    `http://other.localhost:${port}/patients`,
    `//other.localhost:${port}/`,
    '/%2F%2Fevil.com',
    '/%2f%2fevil.com',
    '%2F%2Fevil.com',
    '/%09/evil.com',
    '/%0A/evil.com',
    '/%5Cevil.com',
    '/%5C%5Cevil.com',
    '/.//evil.com',
    '/..//evil.com',
    '/x/../..//evil.com',
    '/%2e/%2fevil.com',
    '/%2e%2e//evil.com',
    '/%0d%0aLocation:%20https://evil.com',
    '/\t/evil.com',
    '/ /evil.com',
    '//%65vil.com',
    '/%E2%80%AE//evil.com',
    'javascript:alert(1)',
    '/@evil.com',
  ];
  t.ok(hostile.length >= 20);

  for (const target of hostile) {
    const http = client({}, t);
    const first = await rawGet(port, host, target);
    t.not(first.status, 500, `${JSON.stringify(target)}: no server error`);
    for (const location of first.headers.get('location') ?? []) {
      t.equal(location, '/login', `${JSON.stringify(target)}: only ever sent to /login`);
    }
    for (const line of first.headers.get('set-cookie') ?? []) http.setCookie(`${acme}/`, line);

    const signedIn = await signInWithPassword(http, acme, 'jo@acme.example', PASSWORD);
    t.equal(signedIn.status, 303, `${JSON.stringify(target)}: signed in`);
    const location = signedIn.location ?? '';
    t.ok(location.startsWith('/') && !location.startsWith('//') && !location.includes('\\'), `${JSON.stringify(target)} -> ${JSON.stringify(location)} is a plain path`);
    t.equal(new URL(location, acme).origin, acme, `${JSON.stringify(target)} -> stays on ${acme}`);
    t.notMatch(location, /[\u0000-\u0020\u007f]/, 'no whitespace or control characters');
  }
});

t.test('a return_to parameter is ignored', async (t) => {
  const { runtime, origin } = await startAuthApp(t);
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  const acme = origin('acme');

  for (const value of ['//evil.com', 'https://evil.com/', '/__test/whoami']) {
    const http = client({}, t);
    const page = await http.get(`${acme}/login?return_to=${encodeURIComponent(value)}&next=${encodeURIComponent(value)}`);
    const match = /name="_csrf" value="([^"]+)"/.exec(page.body)!;
    const res = await http.post(`${acme}/login?return_to=${encodeURIComponent(value)}`, {
      email: 'jo@acme.example', password: PASSWORD, _csrf: match[1]!, return_to: value, returnTo: value,
    });
    t.equal(res.status, 303);
    t.equal(res.location, '/', `${value}: home, not the parameter`);
  }

  // A remembered value is validated again when it is used (defence in depth): even validly signed
  // for this clinic, '//evil.com' leads home.
  const http = client({}, t);
  await http.get(`${acme}/__test/whoami`);
  const stored = decodeURIComponent(http.cookies('acme.localhost').find((c) => c.name === 'sidechart-return')!.value);
  const payload = stored.slice(0, stored.lastIndexOf('.'));
  t.match(payload, /^\d+:\d+:\/__test\/whoami$/);
  const forged = new Signer(returnToCookieKey(runtime.secrets.sessionSecret)).sign(payload.replace(/\/__test\/whoami$/, '//evil.com'));
  http.setCookie(`${acme}/`, `sidechart-return=${encodeURIComponent(forged)}; Path=/; HttpOnly; SameSite=Lax`);
  const res = await signInWithPassword(http, acme, 'jo@acme.example', PASSWORD);
  t.equal(res.location, '/');
});
