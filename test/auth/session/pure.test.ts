// The pure parts of sessions: the ID format and the timeout maths (table-driven).
import t from 'tap';
import { cookieBelongsTo, newSessionId, parseSessionId, unusableSessionId } from '../../../src/auth/session/id.ts';
import { expiresAt, judgeSession, touchIntervalMs } from '../../../src/auth/session/timeouts.ts';
import { sessionCookieSettings } from '../../../src/auth/session/plugin.ts';

t.test('session IDs name their region and schema and carry 256 random bits', async (t) => {
  const id = newSessionId({ regionId: 'au', schemaName: 't_42' });
  t.match(id, /^au\.t_42\.[A-Za-z0-9_-]{43}$/);
  t.same(parseSessionId(id), { regionId: 'au', schemaName: 't_42' });
  t.not(newSessionId({ regionId: 'au', schemaName: 't_42' }), id);
  const random = 'A'.repeat(43);
  const cases: [unknown, boolean][] = [
    [`local.t_1.${random}`, true],
    [`eu-west.t_1234567890123456789.${random}`, true],
    [`local.t_1.${random}A`, false],
    [`local.t_1.${random.slice(1)}`, false],
    [`local.public.${random}`, false],
    [`local.t_1;drop.${random}`, false],
    [`Local.t_1.${random}`, false],
    [`local.t_.${random}`, false],
    [`local.t_12345678901234567890.${random}`, false],
    [`.t_1.${random}`, false],
    [`local.t_1.${'+'.repeat(43)}`, false],
    [`local.t_1.${random}\n`, false],
    [unusableSessionId(), false],
    ['', false],
    [null, false],
    [42, false],
  ];
  for (const [input, valid] of cases) t.equal(parseSessionId(input) !== null, valid, JSON.stringify(input));

  t.ok(cookieBelongsTo(`${id}.signature`, { regionId: 'au', schemaName: 't_42' }));
  t.notOk(cookieBelongsTo(`${id}.signature`, { regionId: 'au', schemaName: 't_4' }), 't_4 is not a prefix match of t_42');
  t.ok(cookieBelongsTo(`${id}.signature`, { regionId: 'eu', schemaName: 't_42' }), 'a clinic moved to another region keeps its sessions: the schema decides');
  t.notOk(cookieBelongsTo(`t_42.x.signature`, { regionId: 'au', schemaName: 'x' }), 'the region part must look like a region');
  t.notOk(cookieBelongsTo(`.t_42.${'a'.repeat(43)}`, { regionId: 'au', schemaName: 't_42' }));
});

t.test('idle and absolute timeouts; writes only when seenAt has aged', async (t) => {
  const min = 60_000;
  const timeouts = { idleMs: 30 * min, absoluteMs: 480 * min };
  const now = 1_000_000_000_000;
  const cases: [string, { signedInAt: unknown; seenAt: unknown }, string][] = [
    ['just signed in', { signedInAt: now, seenAt: now }, 'active'],
    ['30 s idle: no write', { signedInAt: now - 10 * min, seenAt: now - 30_000 }, 'active'],
    ['2 min idle: touch', { signedInAt: now - 10 * min, seenAt: now - 2 * min }, 'touch'],
    ['29 min idle', { signedInAt: now - 60 * min, seenAt: now - 29 * min }, 'touch'],
    ['30 min idle', { signedInAt: now - 60 * min, seenAt: now - 30 * min }, 'idle'],
    ['8 h since sign-in, active', { signedInAt: now - 480 * min, seenAt: now }, 'absolute'],
    ['7 h 59 since sign-in', { signedInAt: now - 479 * min, seenAt: now - 1000 }, 'active'],
    ['seenAt in the future (clock skew)', { signedInAt: now - min, seenAt: now + 5 * min }, 'active'],
    ['missing times', { signedInAt: undefined, seenAt: now }, 'invalid'],
    ['strings', { signedInAt: String(now), seenAt: String(now) }, 'invalid'],
    ['NaN', { signedInAt: Number.NaN, seenAt: now }, 'invalid'],
  ];
  for (const [what, times, expected] of cases) {
    const verdict = judgeSession(times, timeouts, now);
    const got = verdict.state === 'expired' ? verdict.reason : verdict.touch ? 'touch' : 'active';
    t.equal(got, expected, what);
  }
  const touched = judgeSession({ signedInAt: now - 470 * min, seenAt: now - 5 * min }, timeouts, now);
  t.same(touched, { state: 'active', touch: true, seenAt: now, expiresAt: now + 10 * min }, 'expiry capped by the absolute timeout');
  t.equal(expiresAt({ signedInAt: now, seenAt: now }, timeouts), now + 30 * min);
  t.equal(touchIntervalMs(30 * min), 60_000);
  t.equal(touchIntervalMs(5 * min), 30_000, 'short idle timeouts are refreshed more often');
});

t.test('cookie name and Secure follow the public scheme', async (t) => {
  t.same(sessionCookieSettings({ publicScheme: 'https' }), { name: '__Host-sidechart', secure: true });
  t.same(sessionCookieSettings({ publicScheme: 'http' }), { name: 'sidechart', secure: false });
});

t.test('session IDs cut from the random pool: every one well-formed and distinct, across refills', async (t) => {
  const seen = new Set<string>();
  // 2,000 IDs of 32 bytes span eight refills of the 8 KiB pool.
  for (let i = 0; i < 2000; i++) {
    const random = newSessionId({ regionId: 'local', schemaName: 't_1' }).split('.')[2]!;
    if (!/^[A-Za-z0-9_-]{43}$/.test(random) || seen.has(random)) t.fail(`bad or repeated ID ${random}`);
    seen.add(random);
  }
  t.equal(seen.size, 2000, '2,000 distinct IDs');
  const bytes = Buffer.concat([...seen].map((id) => Buffer.from(id, 'base64url')));
  const zeros = bytes.filter((b) => b === 0).length;
  t.ok(zeros < bytes.length / 128, `not a zeroed pool (${zeros} zero bytes of ${bytes.length})`);
});
