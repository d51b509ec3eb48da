import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import t, { type Test } from 'tap';
import { createSecretBox, generateKeySpec, parseKeyring, SecretBoxError } from '../../src/infra/crypto.ts';
import { AppError } from '../../src/infra/errors.ts';

const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const key = (): string => randomBytes(32).toString('base64');
const AAD = 'tenant:t_physio_north:cliniko_api_key';
const SECRET = 'MS0xMjM0NTY3ODkwMTIzNDU2Nzg5MC1hYmNkZWZnaGlqa2xtbm9w-au2';

function expectBoxError(t: Test, fn: () => unknown, reason: string, message: string): void {
  let thrown: unknown = null;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  t.ok(thrown instanceof SecretBoxError, `${message}: throws a SecretBoxError`);
  t.equal((thrown as SecretBoxError | null)?.reason, reason, `${message}: ${reason}`);
}

t.test('seal then open round-trips, including empty and non-ASCII secrets', async (t) => {
  const box = createSecretBox(parseKeyring(`k1:${key()}`));
  for (const plaintext of [SECRET, '', 'héllo wörld ✓ 🔑', 'x'.repeat(10_000)]) {
    const sealed = box.seal(plaintext, AAD);
    t.equal(box.open(sealed, AAD), plaintext);
    t.notOk(sealed.includes(plaintext) && plaintext !== '', 'plaintext is not visible in the token');
    t.match(sealed, /^v1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{22}$/);
  }
});

t.test('every seal uses a fresh IV', async (t) => {
  const box = createSecretBox(parseKeyring(`k1:${key()}`));
  const tokens = Array.from({ length: 200 }, () => box.seal(SECRET, AAD));
  t.equal(new Set(tokens).size, tokens.length, 'no two tokens are equal');
  t.equal(new Set(tokens.map((token) => token.split('.')[2])).size, tokens.length, 'no IV repeats');
});

t.test('tampering with any part of the token is refused', async (t) => {
  const keyring = parseKeyring(`k1:${key()},k2:${key()}`);
  const box = createSecretBox(keyring);
  const sealed = box.seal(SECRET, AAD);
  const parts = sealed.split('.');

  // Flip one bit of the decoded bytes of a part, re-encoded canonically.
  const flip = (index: number, byte = 0): string => {
    const bytes = Buffer.from(parts[index]!, 'base64url');
    bytes[byte] = bytes[byte]! ^ 0x01;
    return parts.map((part, i) => (i === index ? bytes.toString('base64url') : part)).join('.');
  };
  const withPart = (index: number, value: string): string =>
    parts.map((part, i) => (i === index ? value : part)).join('.');

  expectBoxError(t, () => box.open(flip(2), AAD), 'unauthenticated', 'IV bit flipped');
  expectBoxError(t, () => box.open(flip(3), AAD), 'unauthenticated', 'ciphertext bit flipped');
  expectBoxError(t, () => box.open(flip(3, 20), AAD), 'unauthenticated', 'ciphertext bit flipped later');
  expectBoxError(t, () => box.open(flip(4), AAD), 'unauthenticated', 'tag bit flipped');
  expectBoxError(t, () => box.open(flip(4, 15), AAD), 'unauthenticated', 'last tag byte flipped');
  expectBoxError(t, () => box.open(withPart(3, Buffer.from(parts[3]!, 'base64url').subarray(0, -1).toString('base64url')), AAD), 'unauthenticated', 'ciphertext truncated');
  expectBoxError(t, () => box.open(withPart(3, `${parts[3]}AAAA`), AAD), 'unauthenticated', 'ciphertext extended');
  expectBoxError(t, () => box.open(withPart(1, 'k2'), AAD), 'unauthenticated', 'relabelled with another known kid');
  expectBoxError(t, () => box.open(withPart(1, 'k9'), AAD), 'unknown_key', 'unknown kid');
  expectBoxError(t, () => box.open(withPart(0, 'v2'), AAD), 'malformed', 'other version');
  expectBoxError(t, () => box.open(withPart(0, 'V1'), AAD), 'malformed', 'version case changed');

  // Non-canonical base64url: the last character of the 16-byte tag carries 4 unused bits. Changing
  // only those would decode to the same bytes with a lenient decoder; it must not open.
  const tag = parts[4]!;
  const last = BASE64URL_ALPHABET.indexOf(tag.at(-1)!);
  const sibling = BASE64URL_ALPHABET[last | 0x01]!;
  t.same(Buffer.from(tag.slice(0, -1) + sibling, 'base64url'), Buffer.from(tag, 'base64url'), 'same bytes when decoded leniently');
  expectBoxError(t, () => box.open(withPart(4, tag.slice(0, -1) + sibling), AAD), 'malformed', 'non-canonical tag encoding');

  t.equal(box.open(sealed, AAD), SECRET, 'the untouched token still opens');
});

t.test('malformed tokens are refused with a SecretBoxError', async (t) => {
  const box = createSecretBox(parseKeyring(`k1:${key()}`));
  const good = box.seal(SECRET, AAD).split('.');
  const cases: Array<[string, unknown]> = [
    ['empty', ''],
    ['plaintext', SECRET],
    ['four parts', good.slice(0, 4).join('.')],
    ['six parts', [...good, 'x'].join('.')],
    ['short IV', [good[0], good[1], good[2]!.slice(4), good[3], good[4]].join('.')],
    ['short tag', [good[0], good[1], good[2], good[3], good[4]!.slice(2)].join('.')],
    ['standard base64 characters', [good[0], good[1], good[2], `${good[3]}+/`, good[4]].join('.')],
    ['padding', [good[0], good[1], good[2], good[3], `${good[4]}==`].join('.')],
    ['whitespace', ` ${good.join('.')}`],
    ['bad kid', ['v1', 'k 1', good[2], good[3], good[4]].join('.')],
    ['not a string', 42],
    ['null', null],
  ];
  for (const [name, token] of cases) {
    expectBoxError(t, () => box.open(token as string, AAD), 'malformed', name);
    expectBoxError(t, () => box.needsRotation(token as string), 'malformed', `${name} (needsRotation)`);
  }
});

t.test('a secret only opens in the context it was sealed for', async (t) => {
  const box = createSecretBox(parseKeyring(`k1:${key()}`));
  const sealed = box.seal(SECRET, AAD);
  expectBoxError(t, () => box.open(sealed, 'tenant:t_other_clinic:cliniko_api_key'), 'unauthenticated', 'other tenant');
  expectBoxError(t, () => box.open(sealed, 'tenant:t_physio_north:oidc_client_secret'), 'unauthenticated', 'other column');
  expectBoxError(t, () => box.open(sealed, `${AAD} `), 'unauthenticated', 'trailing space');
  expectBoxError(t, () => box.open(sealed, ''), 'invalid_input', 'empty context');
  expectBoxError(t, () => box.seal(SECRET, ''), 'invalid_input', 'sealing needs a context');
  expectBoxError(t, () => box.seal(42 as unknown as string, AAD), 'invalid_input', 'only strings are sealed');
});

t.test('a different keyring with the same kid cannot open the token', async (t) => {
  const sealed = createSecretBox(parseKeyring(`k1:${key()}`)).seal(SECRET, AAD);
  expectBoxError(t, () => createSecretBox(parseKeyring(`k1:${key()}`)).open(sealed, AAD), 'unauthenticated', 'wrong key');
});

t.test('rotation: the old key still opens, the new primary seals, needsRotation tells which', async (t) => {
  const oldKey = key();
  const newKey = key();
  const before = createSecretBox(parseKeyring(`old:${oldKey}`));
  const sealedOld = before.seal(SECRET, AAD);
  t.equal(before.needsRotation(sealedOld), false, 'sealed by the primary: nothing to do');

  const after = createSecretBox(parseKeyring(`new:${newKey}, old:${oldKey}`));
  t.equal(after.open(sealedOld, AAD), SECRET, 'old token opens with the old key kept in the ring');
  t.equal(after.needsRotation(sealedOld), true);

  const resealed = after.seal(after.open(sealedOld, AAD), AAD);
  t.match(resealed, /^v1\.new\./, 'new seals use the new primary');
  t.equal(after.needsRotation(resealed), false);

  const retired = createSecretBox(parseKeyring(`new:${newKey}`));
  t.equal(retired.open(resealed, AAD), SECRET, 'once re-sealed, the old key can go');
  expectBoxError(t, () => retired.open(sealedOld, AAD), 'unknown_key', 'a token under a dropped key');
  expectBoxError(t, () => retired.needsRotation(sealedOld), 'unknown_key', 'needsRotation on a dropped key');
});

t.test('errors are AppErrors without secret material', async (t) => {
  const spec = `k1:${key()}`;
  const box = createSecretBox(parseKeyring(spec));
  const sealed = box.seal(SECRET, AAD);
  const failures: unknown[] = [];
  for (const attempt of [
    () => box.open(sealed, 'tenant:other:cliniko_api_key'),
    () => box.open(sealed.replace('v1.k1', 'v1.k2'), AAD),
    () => box.open(`${sealed}.`, AAD),
  ]) {
    try {
      attempt();
    } catch (error) {
      failures.push(error);
    }
  }
  t.equal(failures.length, 3);
  for (const error of failures) {
    t.ok(error instanceof AppError && error.statusCode === 500, 'a masked 5xx for the error handler');
    const text = `${inspect(error)} ${JSON.stringify(error)}`;
    t.notOk(text.includes(SECRET), 'no plaintext');
    t.notOk(text.includes(spec.slice(3)), 'no key');
    t.notOk(text.includes(sealed.split('.')[3]!), 'no ciphertext');
  }
  const keyringText = `${inspect(parseKeyring(spec), { depth: 5 })} ${JSON.stringify(parseKeyring(spec))}`;
  t.notOk(keyringText.includes(spec.slice(3)), 'printing a keyring does not show the key');
});

t.test('keyring specs', async (t) => {
  const k = key();
  const ring = parseKeyring(` primary:${k} , second:${key()},third:${Buffer.from(randomBytes(32)).toString('base64url')}\n`);
  t.equal(ring.primaryKid, 'primary', 'the first entry is the primary');
  t.same([...ring.keys.keys()], ['primary', 'second', 'third']);
  t.equal(parseKeyring(`a:${k.replace(/=+$/, '')}`).primaryKid, 'a', 'padding is optional');

  const bad: Array<[string, string, RegExp]> = [
    ['empty', '', /empty/],
    ['blank', '  \n', /empty/],
    ['empty entry', `k1:${k},`, /entry 2 is empty/],
    ['leading comma', `,k1:${k}`, /entry 1 is empty/],
    ['no colon', k, /entry 1 is not of the form kid:base64key/],
    ['empty kid', `:${k}`, /key id/],
    ['kid with a dot', `k.1:${k}`, /key id/],
    ['duplicate kid', `k1:${k},k1:${key()}`, /"k1" appears more than once/],
    ['short key', `k1:${randomBytes(16).toString('base64')}`, /16 bytes, AES-256-GCM needs 32/],
    ['long key', `k1:${randomBytes(64).toString('base64')}`, /64 bytes/],
    ['empty key', 'k1:', /not valid base64/],
    ['bad base64 character', `k1:${k.slice(0, 10)}!${k.slice(11)}`, /not valid base64/],
    ['space inside key', `k1:${k.slice(0, 10)} ${k.slice(11)}`, /not valid base64/],
    ['hex instead of base64', `k1:${randomBytes(32).toString('hex')}`, /48 bytes|not valid base64/],
    ['wrong padding', `k1:${k.replace(/=+$/, '')}==`, /not valid base64/],
    // The 43rd character carries 2 unused bits; setting one gives the same bytes, non-canonically.
    ['non-canonical trailing bits', `k1:${k.slice(0, 42)}${BASE64_ALPHABET[BASE64_ALPHABET.indexOf(k[42]!) | 0x01]}=`, /not valid base64/],
  ];
  for (const [name, spec, message] of bad) {
    t.throws(() => parseKeyring(spec), message, name);
    try {
      parseKeyring(spec);
    } catch (error) {
      const text = String((error as Error).message);
      t.notOk(text.includes(k) || text.includes(k.slice(0, 10)), `${name}: the message does not echo key material`);
    }
  }
});

t.test('generateKeySpec gives specs that parse, with fresh keys', async (t) => {
  const a = generateKeySpec();
  const b = generateKeySpec('2026-01');
  t.match(a, /^k[0-9a-f]{8}:[A-Za-z0-9+/]{43}=$/);
  t.match(b, /^2026-01:/);
  t.not(a.split(':')[1], b.split(':')[1]);
  const box = createSecretBox(parseKeyring(`${b},${a}`));
  t.equal(box.open(box.seal(SECRET, AAD), AAD), SECRET);
  t.throws(() => generateKeySpec('bad:kid'), /key id/);
});
