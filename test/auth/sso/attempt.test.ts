// Login attempts read back from the session: only well-formed, of the wanted kind, and fresh.
import t from 'tap';
import { LOGIN_ATTEMPT_TTL_MS, readAttempt } from '../../../src/auth/sso/attempt.ts';

const now = 10_000_000;
const clinic = { kind: 'clinic', state: 's', nonce: 'n', codeVerifier: 'v', expectedIssuer: 'https://idp.example', createdAt: now - 1000 };
const platform = { kind: 'platform', attemptId: 'a', providerId: 'google', createdAt: now - 1000 };

t.test('readAttempt', async (t) => {
  t.same(readAttempt(clinic, 'clinic', now), clinic);
  t.same(readAttempt(platform, 'platform', now), platform);
  const refused: [string, unknown, 'clinic' | 'platform'][] = [
    ['nothing', undefined, 'clinic'],
    ['an array', [clinic], 'clinic'],
    ['other kind', clinic, 'platform'],
    ['other kind (platform)', platform, 'clinic'],
    ['expired', { ...clinic, createdAt: now - LOGIN_ATTEMPT_TTL_MS - 1 }, 'clinic'],
    ['from the future', { ...clinic, createdAt: now + 120_000 }, 'clinic'],
    ['createdAt not a number', { ...clinic, createdAt: String(now) }, 'clinic'],
    ['no issuer', { ...clinic, expectedIssuer: undefined }, 'clinic'],
    ['empty state', { ...clinic, state: '' }, 'clinic'],
    ['verifier not a string', { ...clinic, codeVerifier: 42 }, 'clinic'],
    ['no attempt id', { ...platform, attemptId: undefined }, 'platform'],
    ['no provider', { ...platform, providerId: null }, 'platform'],
  ];
  for (const [name, slot, kind] of refused) t.equal(readAttempt(slot, kind as 'clinic', now), null, name);
  t.notOk('extra' in (readAttempt({ ...clinic, extra: 1 }, 'clinic', now) ?? {}), 'only known fields come back');
});
