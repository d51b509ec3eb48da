// The return path after sign-in, in a signed cookie bound to the clinic and an expiry: the pure
// parts table-driven, then over real HTTP: its attributes, its key, and every cookie that should
// not take the user anywhere (tampered, another clinic's, expired, a hostile path validly signed)
// leading home instead.
import t from 'tap';
import { Signer } from '@fastify/cookie';
import {
  pathFromPayload, returnToCookieKey, returnToCookieSettings, returnToPayload,
} from '../../src/auth/return-to-cookie.ts';
import { PRE_LOGIN_TTL_MS } from '../../src/auth/session/store.ts';
import {
  startHttpsClinic, PASSWORD, PATIENT_PATH, addUser, client, signInWithPassword, startAuthApp } from '../helpers/fixtures.ts';

const NOW = 1_800_000_000_000;
const HOUR = 60 * 60 * 1000;

function attributes(line: string): string[] {
  return line.split(';').slice(1).map((part) => part.trim()).filter(Boolean);
}

t.test('the signing key is derived from the session secret, not the secret itself', async (t) => {
  const secret = 's'.repeat(48);
  const key = returnToCookieKey(secret);
  t.equal(Buffer.from(key, 'base64url').length, 32, 'HMAC-SHA256, 256 bits');
  t.equal(returnToCookieKey(secret), key, 'the same secret gives the same key (every instance agrees)');
  t.not(key, secret);
  t.not(returnToCookieKey('t'.repeat(48)), key, 'another secret, another key');
  const signed = new Signer(key).sign('1:2:/x');
  t.equal(new Signer(secret).unsign(signed).valid, false, 'a value signed with the key does not verify with the secret');
});

t.test('cookie settings: host-only, one hour, __Host- when Secure', async (t) => {
  t.equal(PRE_LOGIN_TTL_MS, HOUR);
  t.same(returnToCookieSettings(false), { name: 'sidechart-return', options: { path: '/', httpOnly: true, sameSite: 'lax', secure: false, maxAge: 3600 } });
  t.same(returnToCookieSettings(true), { name: '__Host-sidechart-return', options: { path: '/', httpOnly: true, sameSite: 'lax', secure: true, maxAge: 3600 } });
});

t.test('payloads: made for a clinic and a path, read back only for that clinic before expiry', async (t) => {
  const made: Array<[string, { tenantId: string; path: string }, string | null]> = [
    ['a patient link', { tenantId: '12', path: PATIENT_PATH }, `12:${NOW + HOUR}:${PATIENT_PATH}`],
    ['colons in the path', { tenantId: '12', path: '/a:b?c=d:e' }, `12:${NOW + HOUR}:/a:b?c=d:e`],
    ['normalized like safeReturnTo', { tenantId: '12', path: '/a/../patients#x' }, `12:${NOW + HOUR}:/patients`],
    ['protocol-relative', { tenantId: '12', path: '//evil.com' }, null],
    ['absolute URL', { tenantId: '12', path: 'https://evil.com/' }, null],
    ['encoded slashes', { tenantId: '12', path: '/%2F%2Fevil.com' }, null],
    ['empty path', { tenantId: '12', path: '' }, null],
    ['no clinic', { tenantId: '', path: '/' }, null],
    ['a clinic id with a colon', { tenantId: '1:2', path: '/' }, null],
  ];
  for (const [name, input, expected] of made) t.equal(returnToPayload({ ...input, now: NOW }), expected, name);

  const payload = `12:${NOW + HOUR}:${PATIENT_PATH}`;
  const read: Array<[string, string, { tenantId: string; now: number }, string | null]> = [
    ['at once', payload, { tenantId: '12', now: NOW }, PATIENT_PATH],
    ['a millisecond before expiry', payload, { tenantId: '12', now: NOW + HOUR - 1 }, PATIENT_PATH],
    ['at expiry', payload, { tenantId: '12', now: NOW + HOUR }, null],
    ['after expiry', payload, { tenantId: '12', now: NOW + 2 * HOUR }, null],
    ['on another clinic', payload, { tenantId: '13', now: NOW }, null],
    ['on a clinic whose id it starts with', payload, { tenantId: '1', now: NOW }, null],
    ['colons in the path', `12:${NOW + HOUR}:/a:b?c=d:e`, { tenantId: '12', now: NOW }, '/a:b?c=d:e'],
    ['a hostile path (defence in depth)', `12:${NOW + HOUR}://evil.com`, { tenantId: '12', now: NOW }, null],
    ['a backslash path', `12:${NOW + HOUR}:/\\evil.com`, { tenantId: '12', now: NOW }, null],
    ['an expiry that is not a number', `12:soon:${PATIENT_PATH}`, { tenantId: '12', now: NOW }, null],
    ['no expiry', `12::${PATIENT_PATH}`, { tenantId: '12', now: NOW }, null],
    ['no path', `12:${NOW + HOUR}:`, { tenantId: '12', now: NOW }, null],
    ['only a path', PATIENT_PATH, { tenantId: '12', now: NOW }, null],
    ['empty', '', { tenantId: '12', now: NOW }, null],
  ];
  for (const [name, value, expected, result] of read) t.equal(pathFromPayload(value, expected), result, name);

  for (const path of ['/', PATIENT_PATH, '/search?q=a+b', '/caf%C3%A9']) {
    t.equal(pathFromPayload(returnToPayload({ tenantId: '7', path, now: NOW })!, { tenantId: '7', now: NOW + 1 }), path, `${path}: round trip`);
  }
});

/** The (decoded) value of a Set-Cookie line. */
function valueOf(line: string): string {
  return decodeURIComponent(line.slice(line.indexOf('=') + 1, line.indexOf(';')));
}

t.test('an anonymous GET sets the cookie, signed and bound to the clinic; sign-in uses it once', async (t) => {
  const { runtime, origin } = await startAuthApp(t);
  const acme = await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  const http = client({}, t);

  const before = Date.now();
  const res = await http.get(`${origin('acme')}/__test/whoami?patient_id=1&from=cliniko`, { crossSite: true });
  t.equal(res.status, 303);
  t.equal(res.location, '/login');
  t.equal(res.setCookie.length, 1, 'one cookie, and it is not a session cookie');
  const line = res.setCookie[0]!;
  t.match(line, /^sidechart-return=[^;]+;/);
  t.same(attributes(line).sort(), ['HttpOnly', 'Max-Age=3600', 'Path=/', 'SameSite=Lax'].sort(), line);
  t.notMatch(line, /Domain|Secure/i);

  const unsigned = new Signer(returnToCookieKey(runtime.secrets.sessionSecret)).unsign(valueOf(line));
  t.ok(unsigned.valid, 'signed with the key derived from the session secret');
  t.equal(new Signer(runtime.secrets.sessionSecret).unsign(valueOf(line)).valid, false, 'not with the session secret itself');
  const [tenantId, expiry, ...path] = (unsigned.value ?? '').split(':');
  t.equal(tenantId, acme.id, 'names the clinic');
  t.ok(Number(expiry) >= before + HOUR && Number(expiry) <= Date.now() + HOUR, 'expires in an hour');
  t.equal(path.join(':'), '/__test/whoami?patient_id=1&from=cliniko', 'carries the path and query');

  // A path whose cookie a browser would refuse (over 4 KB once encoded) is not kept, and does not
  // leave an older one in its place.
  const other = client({}, t);
  await other.get(`${origin('acme')}${PATIENT_PATH}`);
  const long = await other.get(`${origin('acme')}/__test/whoami?q=${'=&'.repeat(1000)}`);
  t.equal(long.status, 303);
  t.same(long.setCookie.map((l) => l.split('=')[0]), ['sidechart-return'], 'only the return cookie is touched');
  t.match(long.setCookie[0], /^sidechart-return=;.*Expires=Thu, 01 Jan 1970/, 'cleared, not set');
  t.notOk(other.cookies('acme.localhost').some((c) => c.name === 'sidechart-return'));
  t.equal((await signInWithPassword(other, origin('acme'), 'jo@acme.example')).location, '/', 'so sign-in leads home');

  const head = await http.request('HEAD', `${origin('acme')}${PATIENT_PATH}`);
  t.equal(head.status, 303);
  t.same(head.setCookie, [], 'HEAD stores nothing, not even the cookie');

  const signedIn = await signInWithPassword(http, origin('acme'), 'jo@acme.example');
  t.equal(signedIn.status, 303);
  t.equal(signedIn.location, '/__test/whoami?patient_id=1&from=cliniko');
  const cleared = signedIn.setCookie.find((l) => l.startsWith('sidechart-return='));
  t.match(cleared, /^sidechart-return=;/, 'cleared at sign-in');
  t.notOk(http.cookies('acme.localhost').some((c) => c.name === 'sidechart-return'), 'the browser drops it');
});

t.test('tampered, another clinic’s, expired, or a hostile path validly signed: home after sign-in', async (t) => {
  const { runtime, origin } = await startAuthApp(t);
  const acme = await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await runtime.tenants.create({ slug: 'other', displayName: 'Other' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  const signer = new Signer(returnToCookieKey(runtime.secrets.sessionSecret));

  // A real cookie, as issued on each host.
  const issued = async (slug: string): Promise<string> => {
    const http = client({}, t);
    await http.get(`${origin(slug)}${PATIENT_PATH}`);
    return decodeURIComponent(http.cookies(`${slug}.localhost`).find((c) => c.name === 'sidechart-return')!.value);
  };
  const genuine = await issued('acme');
  const [payload, signature] = [genuine.slice(0, genuine.lastIndexOf('.')), genuine.slice(genuine.lastIndexOf('.') + 1)];

  const cases: Array<[string, string]> = [
    ['the path changed, signature kept', `${payload.replace('/patients', '/admin')}.${signature}`],
    ['the expiry moved, signature kept', `${payload.replace(/:(\d+):/, (_m, ms: string) => `:${Number(ms) + HOUR}:`)}.${signature}`],
    ['signature changed', `${payload}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`],
    ['no signature', payload],
    ['signed with the session secret itself', new Signer(runtime.secrets.sessionSecret).sign(payload)],
    ['issued on another clinic’s host', await issued('other')],
    ['expired (validly signed)', signer.sign(`${acme.id}:${Date.now() - 1}:${PATIENT_PATH}`)],
    ['//evil.com (validly signed)', signer.sign(`${acme.id}:${Date.now() + HOUR}://evil.com`)],
    ['/\\evil.com (validly signed)', signer.sign(`${acme.id}:${Date.now() + HOUR}:/\\evil.com`)],
  ];
  for (const [name, value] of cases) {
    const http = client({}, t);
    t.ok(http.setCookie(`${origin('acme')}/`, `sidechart-return=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Lax`), `${name}: planted`);
    const res = await signInWithPassword(http, origin('acme'), 'jo@acme.example', PASSWORD);
    t.equal(res.status, 303, `${name}: signed in`);
    t.equal(res.location, '/', `${name}: home`);
    t.notOk(http.cookies('acme.localhost').some((c) => c.name === 'sidechart-return'), `${name}: cleared`);
  }

  // The genuine one still works (so the cases above failed for their own reason).
  const http = client({}, t);
  http.setCookie(`${origin('acme')}/`, `sidechart-return=${encodeURIComponent(genuine)}; Path=/; HttpOnly; SameSite=Lax`);
  t.equal((await signInWithPassword(http, origin('acme'), 'jo@acme.example', PASSWORD)).location, PATIENT_PATH);
});

t.test('over HTTPS the cookie is __Host- and Secure, and the sign-in returns through it', async (t) => {
  const { runtime, origin, http } = await startHttpsClinic(t);

  const res = await http.get(`${origin('acme')}${PATIENT_PATH}`, { crossSite: true });
  t.equal(res.status, 303);
  t.equal(res.setCookie.length, 1);
  const line = res.setCookie[0]!;
  t.match(line, /^__Host-sidechart-return=[^;]+;/);
  t.same(attributes(line).sort(), ['HttpOnly', 'Max-Age=3600', 'Path=/', 'SameSite=Lax', 'Secure'].sort(), line);
  t.notMatch(line, /Domain/i);

  const signedIn = await signInWithPassword(http, origin('acme'), 'jo@acme.example', PASSWORD);
  t.equal(signedIn.status, 303);
  t.equal(signedIn.location, PATIENT_PATH);
  const cleared = signedIn.setCookie.find((l) => l.startsWith('__Host-sidechart-return='))!;
  t.match(cleared, /^__Host-sidechart-return=;/);
  t.match(cleared, /Secure/, 'cleared with the attributes a browser needs for a __Host- cookie');
  t.match(cleared, /Path=\//);
  t.notOk(http.cookies('acme.localhost').some((c) => c.name === '__Host-sidechart-return'), 'the browser drops it');
});
