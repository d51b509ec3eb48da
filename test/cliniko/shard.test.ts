import t from 'tap';
import { apiBaseForShard, shardFromApiKey } from '../../src/cliniko/shard.ts';

const long = 'k'.repeat(196);

// [key, expected shard or 'reject']
const keys: [string, string | 'reject'][] = [
  // Suffix after the last '-' is the shard.
  ['MS0xMjM0NTY3ODkwYWJjZGVm-au2', 'au2'],
  ['abc-au1', 'au1'],
  ['abc-uk1', 'uk1'],
  ['abc-uk2', 'uk2'],
  ['abc-eu1', 'eu1'],
  ['abc-ca1', 'ca1'],
  ['abc-au4', 'au4'],
  ['abc-us1', 'us1'], // undocumented but well-formed: accepted
  ['abc-au12', 'au12'],
  ['part-with-dashes-uk2', 'uk2'],
  ['a+b/c=d-au3', 'au3'],
  // No '-' at all: an old key of au1.
  ['MS0xMjM0NTY3ODkwYWJjZGVm', 'au1'],
  ['x', 'au1'],
  [`${long}-au1`, 'au1'], // exactly 200 characters
  // Malformed suffixes.
  ['abc-', 'reject'],
  ['abc-au', 'reject'],
  ['abc-au123', 'reject'],
  ['abc-AU1', 'reject'],
  ['abc-a1', 'reject'],
  ['abc-1au', 'reject'],
  ['abc-au1x', 'reject'],
  ['abc-au-1', 'reject'],
  ['abc-au1.', 'reject'],
  ['-au1', 'reject'],
  // Empty, whitespace, control characters, non-ASCII, absurd length.
  ['', 'reject'],
  [' ', 'reject'],
  [' abc-au1', 'reject'],
  ['abc-au1 ', 'reject'],
  ['abc-au1\n', 'reject'],
  ['ab c-au1', 'reject'],
  ['abc\t-au1', 'reject'],
  ['abc\u0000-au1', 'reject'],
  ['abc\u007f-au1', 'reject'],
  ['abc\u0085-au1', 'reject'],
  ['abc\u00a0-au1', 'reject'],
  ['ключ-au1', 'reject'],
  ['abc-аu1', 'reject'], // Cyrillic 'а'
  [`${long}x-au1`, 'reject'], // 201 characters
  ['k'.repeat(10_000), 'reject'],
];

t.test('shardFromApiKey', async (t) => {
  for (const [key, expected] of keys) {
    const result = shardFromApiKey(key);
    const label = JSON.stringify(key.length > 40 ? `${key.slice(0, 20)}…(${key.length})` : key);
    if (expected === 'reject') {
      t.equal(result.ok, false, `${label} is rejected`);
      if (!result.ok) {
        t.ok(result.reason.length > 0, `${label} has a reason`);
        // Reasons are shown to admins and may be logged: they never echo the key.
        if (key.length >= 3) t.notOk(result.reason.includes(key), `${label}: reason does not contain the key`);
      }
    } else {
      t.same(result, { ok: true, shard: expected }, `${label} -> ${expected}`);
    }
  }
});

t.test('shardFromApiKey never throws on non-strings', async (t) => {
  for (const value of [undefined, null, 42, {}, []]) {
    t.equal(shardFromApiKey(value as unknown as string).ok, false, String(value));
  }
});

t.test('apiBaseForShard', async (t) => {
  const ok: [string, string, string][] = [
    ['https://api.{shard}.cliniko.com/v1', 'au1', 'https://api.au1.cliniko.com/v1'],
    ['https://api.{shard}.cliniko.com/v1/', 'uk2', 'https://api.uk2.cliniko.com/v1'],
    ['http://api.{shard}.cliniko.localhost:4001/v1', 'eu1', 'http://api.eu1.cliniko.localhost:4001/v1'],
    ['http://api.{shard}.cliniko.localhost:4001/v1', 'au12', 'http://api.au12.cliniko.localhost:4001/v1'],
  ];
  for (const [template, shard, expected] of ok) t.equal(apiBaseForShard(template, shard), expected, `${template} + ${shard}`);

  const bad: [string, string][] = [
    ['https://api.{shard}.cliniko.com/v1', ''],
    ['https://api.{shard}.cliniko.com/v1', 'AU1'],
    ['https://api.{shard}.cliniko.com/v1', 'au1.evil.com/'],
    ['https://api.{shard}.cliniko.com/v1', 'au1@evil'],
    ['https://api.cliniko.com/v1', 'au1'], // no placeholder: would hard-code one host for every shard
    ['not a url {shard}', 'au1'],
    ['ftp://api.{shard}.cliniko.com/v1', 'au1'],
    ['https://api.{shard}.cliniko.com/v1?x=1', 'au1'],
    ['https://user:pw@api.{shard}.cliniko.com/v1', 'au1'],
  ];
  for (const [template, shard] of bad) t.throws(() => apiBaseForShard(template, shard), `${template} + ${JSON.stringify(shard)} throws`);
});
