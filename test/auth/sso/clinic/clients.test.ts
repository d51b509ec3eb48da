// The per-clinic openid-client configuration cache: reused within its TTL, rebuilt when the TTL
// passes or the clinic's settings change (in any process: the settings are part of the key),
// dropped on invalidate, never caching a failure, one discovery for concurrent sign-ins.
import t from 'tap';
import type { Configuration } from 'openid-client';
import { createOidcClients, type ClinicOidcClientSettings } from '../../../../src/auth/sso/clinic/clients.ts';
import { startOidcProvider } from '../../../helpers/oidc-provider.ts';

function fakeDiscovery() {
  const calls: ClinicOidcClientSettings[] = [];
  let fail = false;
  return {
    calls,
    failNext(value: boolean) {
      fail = value;
    },
    discover: async (settings: ClinicOidcClientSettings) => {
      calls.push(settings);
      if (fail) throw new TypeError('fetch failed');
      return { settings, n: calls.length } as unknown as Configuration;
    },
  };
}

const settings = { issuer: 'https://idp.example', clientId: 'c', clientSecret: 's' };

t.test('cache behaviour', async (t) => {
  let now = 1_000;
  const fake = fakeDiscovery();
  const clients = createOidcClients({ ttlMs: 60_000, timeoutMs: 1000, allowHttpIssuers: false, now: () => now, discover: fake.discover });

  const [a, b] = await Promise.all([clients.get('1', settings), clients.get('1', settings)]);
  t.equal(a, b);
  t.equal(fake.calls.length, 1, 'concurrent sign-ins share one discovery');
  t.equal(await clients.get('1', settings), a, 'reused');
  await clients.get('2', settings);
  t.equal(fake.calls.length, 2, 'per tenant');

  now += 60_001;
  t.not(await clients.get('1', settings), a, 'rebuilt after the TTL');
  t.equal(fake.calls.length, 3);

  await clients.get('1', { ...settings, clientSecret: 'rotated' });
  t.equal(fake.calls.length, 4, 'a new secret means a new configuration');
  await clients.get('1', { ...settings, clientSecret: 'rotated', issuer: 'https://other.example' });
  t.equal(fake.calls.length, 5, 'a new issuer too');

  clients.invalidate('1');
  await clients.get('1', { ...settings, clientSecret: 'rotated', issuer: 'https://other.example' });
  t.equal(fake.calls.length, 6, 'invalidate drops the entry');

  fake.failNext(true);
  clients.invalidate('1');
  await t.rejects(clients.get('1', settings), { message: 'fetch failed' });
  fake.failNext(false);
  await clients.get('1', settings);
  t.equal(fake.calls.length, 8, 'a failed discovery is not cached');
});

t.test('real discovery: ClientSecretBasic, http issuers only when allowed', async (t) => {
  const idp = await startOidcProvider({ clients: [{ client_id: 'c', client_secret: 's', redirect_uris: ['http://a.localhost/cb'] }] });
  t.teardown(() => idp.close());
  const allowed = createOidcClients({ ttlMs: 1000, timeoutMs: 2000, allowHttpIssuers: true });
  const config = await allowed.get('1', { issuer: idp.issuer, clientId: 'c', clientSecret: 's' });
  t.equal(config.serverMetadata().issuer, idp.issuer);
  const refused = createOidcClients({ ttlMs: 1000, timeoutMs: 2000, allowHttpIssuers: false });
  await t.rejects(refused.get('1', { issuer: idp.issuer, clientId: 'c', clientSecret: 's' }), { code: 'OAUTH_HTTP_REQUEST_FORBIDDEN' });
});
