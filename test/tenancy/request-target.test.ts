// Which host a request names when the request line and the Host header disagree (RFC 9112): an
// absolute-form target's authority wins; two Host headers are refused. Over a raw socket, since
// HTTP clients do not send such requests.
import t from 'tap';
import { absoluteFormHost, hostHeaderCount, originForm } from '../../src/tenancy/host.ts';
import { buildTestApp } from '../helpers/app.ts';
import { rawExchange } from '../helpers/net.ts';

t.test('absolute-form targets and Host headers, pure', async (t) => {
  const targets: [string | undefined, string | null][] = [
    ['/patients?patient_id=1', null],
    [undefined, null],
    ['http://bu.localhost/patients', 'bu.localhost'],
    ['HTTPS://BU.localhost:8443/x', 'bu.localhost:8443'],
    ['ftp://bu.localhost/x', ''],
    ['http://[::1/x', ''],
    ['*', null],
  ];
  for (const [target, host] of targets) t.equal(absoluteFormHost(target), host, String(target));
  const origins: [string, string][] = [
    ['http://bu.localhost/patients?patient_id=1', '/patients?patient_id=1'],
    ['HTTPS://BU.localhost:8443', '/'],
    ['http://bu.localhost?x=1', '/?x=1'],
    ['http://au.localhost@bu.localhost/a/../b', '/a/../b'],
  ];
  for (const [target, origin] of origins) t.equal(originForm(target), origin, target);
  t.equal(hostHeaderCount(['Host', 'a', 'Accept', '*/*']), 1);
  t.equal(hostHeaderCount(['host', 'a', 'HOST', 'b']), 2);
  t.equal(hostHeaderCount(['X-Host', 'a']), 0);
});


t.test('over the wire: the URI host wins, two Host headers are a 400', async (t) => {
  const { address, runtime } = await buildTestApp(t, { listen: true });
  await runtime.tenants.create({ slug: 'au', displayName: 'Australia Physio' });
  await runtime.tenants.create({ slug: 'bu', displayName: 'Bu Physio' });
  const port = Number(new URL(address!).port);

  const byUri = await rawExchange(port, 'GET http://bu.localhost/login HTTP/1.1\r\nHost: au.localhost\r\nConnection: close\r\n\r\n');
  t.match(byUri, /^HTTP\/1\.1 200/);
  t.match(byUri, /Bu Physio/, 'the page of the clinic the URI names');
  t.notMatch(byUri, /Australia/);

  const unknown = await rawExchange(port, 'GET http://nobody.localhost/login HTTP/1.1\r\nHost: au.localhost\r\nConnection: close\r\n\r\n');
  t.match(unknown, /^HTTP\/1\.1 404/, 'an unknown clinic in the URI is unknown, whatever the Host says');

  const twoHosts = await rawExchange(port, 'GET /login HTTP/1.1\r\nHost: au.localhost\r\nHost: bu.localhost\r\nConnection: close\r\n\r\n');
  t.match(twoHosts, /^HTTP\/1\.1 400/, 'two Host headers: refused');
  t.notMatch(twoHosts, /Physio/);
});

t.test('an absolute-form target reads as its origin form after tenancy (the fuzz found a 500 here)', async (t) => {
  const { address, runtime } = await buildTestApp(t, { listen: true });
  await runtime.tenants.create({ slug: 'au', displayName: 'Australia Physio' });
  await runtime.tenants.create({ slug: 'bu', displayName: 'Bu Physio' });
  const port = Number(new URL(address!).port);
  // A visitor opening a patient page: the sign-in redirect remembers the path, not the URI.
  const anonymous = await rawExchange(port, 'GET http://bu.localhost/patients?patient_id=1 HTTP/1.1\r\nHost: au.localhost\r\nConnection: close\r\n\r\n');
  t.match(anonymous, /^HTTP\/1\.1 303/);
  t.match(anonymous, /\r\nlocation: \/login\r\n/i);
  t.match(anonymous, /\r\nset-cookie: sidechart-return=[^;\r\n]*:\/patients\?patient_id=1\./i);
});
