// Signed values for the platform-provider hop: each purpose has its own key and audience, expiry is
// enforced, tampering and junk are refused.
import t from 'tap';
import { hkdfSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { createSsoTokens } from '../../../src/auth/sso/tokens.ts';

const secret = 's'.repeat(40);

t.test('sign and verify per purpose', async (t) => {
  const tokens = createSsoTokens(secret);
  const attempt = await tokens.sign('attempt', { aid: 'a1', tid: '5' }, 60);
  t.match(await tokens.verify('attempt', attempt), { aid: 'a1', tid: '5', iss: 'sidechart', aud: 'sidechart:attempt' });
  t.equal(await tokens.verify('handoff', attempt), null, 'an attempt reference is not a hand-off token');
  t.equal(await tokens.verify('transaction', attempt), null);
  t.equal(await createSsoTokens('x'.repeat(40)).verify('attempt', attempt), null, 'another secret');

  const [header, payload, signature] = attempt.split('.') as [string, string, string];
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), tid: '6' })).toString('base64url');
  t.equal(await tokens.verify('attempt', `${header}.${forged}.${signature}`), null, 'tampered claims');
  for (const junk of [undefined, '', 'abc', 'a.b.c', 42, 'x'.repeat(5000)]) t.equal(await tokens.verify('attempt', junk), null, `junk ${String(junk).slice(0, 10)}`);
});

t.test('expired tokens are refused', async (t) => {
  const tokens = createSsoTokens(secret);
  t.equal(await tokens.verify('handoff', await tokens.sign('handoff', { jti: 'x' }, -30)), null);
});

t.test('alg none and wrong typ are refused', async (t) => {
  const tokens = createSsoTokens(secret);
  const body = Buffer.from(JSON.stringify({ iss: 'sidechart', aud: 'sidechart:handoff', exp: Math.floor(Date.now() / 1000) + 60, iat: Math.floor(Date.now() / 1000) })).toString('base64url');
  const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'sidechart-handoff' })).toString('base64url')}.${body}.`;
  t.equal(await tokens.verify('handoff', none), null, 'alg none');
  // The hand-off key itself (derived as tokens.ts does), so only the typ header differs.
  const handoffKey = new Uint8Array(hkdfSync('sha256', secret, 'sidechart-sso', 'sso-handoff', 32));
  const signed = (typ: string, key = handoffKey) =>
    new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ }).setIssuer('sidechart').setAudience('sidechart:handoff').setIssuedAt().setExpirationTime('1m').sign(key);
  t.not(await tokens.verify('handoff', await signed('sidechart-handoff')), null, 'control: right key and typ verify');
  t.equal(await tokens.verify('handoff', await signed('JWT')), null, 'right key, wrong typ');
  t.equal(await tokens.verify('handoff', await signed('sidechart-attempt')), null, 'right key, typ of another purpose');
  t.equal(await tokens.verify('handoff', await signed('sidechart-handoff', new Uint8Array(32))), null, 'right typ, another key');
  t.throws(() => createSsoTokens('short'), /at least 32/);
});
