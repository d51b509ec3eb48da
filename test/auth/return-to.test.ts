import { randomInt } from 'node:crypto';
import t from 'tap';
import { RETURN_TO_MAX_LENGTH, safeReturnTo } from '../../src/auth/return-to.ts';

const ORIGIN = 'http://tenant.invalid';

/** What a browser does with the value in a Location header on the tenant host. */
function staysOnTenantHost(result: string): boolean {
  try {
    return new URL(result, ORIGIN).origin === ORIGIN && result.startsWith('/') && !result.startsWith('//');
  } catch {
    return false;
  }
}

t.test('accepted paths come back normalized', async (t) => {
  const accepted: Array<[string, string]> = [
    ['/', '/'],
    ['/patients?patient_id=836447129235883061', '/patients?patient_id=836447129235883061'],
    ['/patients?patient_id=9223372036854775807&tab=notes', '/patients?patient_id=9223372036854775807&tab=notes'],
    ['/patients#notes', '/patients'],
    ['/admin/settings?', '/admin/settings'],
    ['/a/../patients', '/patients'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/search?q=a+b', '/search?q=a+b'],
    ['/javascript:alert(1)', '/javascript:alert(1)'],
    ['/@evil.com', '/@evil.com'],
    ['/a"b<c>', '/a%22b%3Cc%3E'],
    ['/café', '/caf%C3%A9'],
    ['/／evil.com', '/%EF%BC%8Fevil.com'],
    ['/a/b//c', '/a/b//c'],
  ];
  for (const [input, expected] of accepted) {
    const result = safeReturnTo(input);
    t.equal(result, expected, JSON.stringify(input));
    if (result !== null) t.ok(staysOnTenantHost(result), `${JSON.stringify(input)} stays on the tenant host`);
  }
});

t.test('open-redirect and smuggling variants are refused', async (t) => {
  const refused: Array<[string, unknown]> = [
    ['protocol-relative', '//evil.com'],
    ['triple slash', '///evil.com'],
    ['slash backslash', '/\\evil.com'],
    ['double backslash', '\\\\evil.com'],
    ['backslash slash', '\\/evil.com'],
    ['backslash later in the path', '/patients\\..\\..\\evil.com'],
    ['scheme without slashes', 'https:evil.com'],
    ['absolute URL', 'https://evil.com'],
    ['absolute URL with path', 'https://evil.com/patients'],
    ['sibling tenant', 'http://other-tenant.localhost/patients'],
    ['sibling tenant over https', 'https://other-tenant.sidechart.example/patients?patient_id=1'],
    ['javascript scheme', 'javascript:alert(1)'],
    ['javascript scheme, mixed case', 'JaVaScRiPt:alert(1)'],
    ['data URL', 'data:text/html,<script>alert(1)</script>'],
    ['encoded double slash', '%2F%2Fevil.com'],
    ['encoded slash after slash', '/%2F/evil.com'],
    ['encoded slash after slash, lowercase', '/%2f/evil.com'],
    ['encoded slash right after slash', '/%2Fevil.com'],
    ['encoded backslash', '/%5Cevil.com'],
    ['encoded backslash, lowercase', '/%5cevil.com'],
    ['encoded backslash at the start', '%5C%5Cevil.com'],
    ['encoded backslash later', '/patients/%5C%5Cevil.com'],
    ['encoded tab', '/%09/evil.com'],
    ['encoded CR LF', '/%0d%0a/evil.com'],
    ['encoded CR LF header injection', '/patients%0D%0ASet-Cookie:%20x=1'],
    ['encoded NUL', '/%00/evil.com'],
    ['encoded space', '/%20/evil.com'],
    ['raw tab', '/\t/evil.com'],
    ['literal backslash-t', '/\\t/evil.com'],
    ['raw CR LF', '/\r\n/evil.com'],
    ['raw LF in query', '/patients?x=\nLocation:%20//evil.com'],
    ['raw NUL', '/\u0000/evil.com'],
    ['raw DEL', '/\u007f/evil.com'],
    ['raw space', '/ /evil.com'],
    ['leading space', ' /patients'],
    ['trailing space', '/patients '],
    ['dot segment collapsing to //', '/.//evil.com'],
    ['dot-dot segment collapsing to //', '/a/..//evil.com'],
    ['encoded dot segment collapsing to //', '/%2e//evil.com'],
    ['encoded dot-dot collapsing to //', '/x/%2E%2E//evil.com'],
    ['dot segment exposing an encoded slash', '/%2E/%2f/evil.com'],
    ['dot segment exposing an encoded slash (2)', '/./%2f%2e%2F'],
    ['dot-dot exposing an encoded backslash', '/a/../%5Cevil.com'],
    ['fullwidth solidus', '／／evil.com'],
    ['fullwidth reverse solidus', '＼＼evil.com'],
    ['relative path', 'patients'],
    ['query only', '?patient_id=1'],
    ['fragment only', '#x'],
    ['userinfo', '//user:pass@evil.com'],
    ['empty string', ''],
    ['overlong', `/${'a'.repeat(RETURN_TO_MAX_LENGTH)}`],
    ['null', null],
    ['undefined', undefined],
    ['number', 42],
    ['array', ['/patients']],
    ['object', { toString: () => '/patients' }],
    ['String object', new String('/patients')],
  ];
  for (const [name, input] of refused) {
    t.equal(safeReturnTo(input), null, name);
  }
});

t.test('the length limit is inclusive', async (t) => {
  const longest = `/${'a'.repeat(RETURN_TO_MAX_LENGTH - 1)}`;
  t.equal(safeReturnTo(longest), longest);
  t.equal(safeReturnTo(`${longest}a`), null);
});

t.test('normalized results are stable: validating a result gives it back', async (t) => {
  for (const input of ['/a/../b?c=d#e', '/caf\u00e9?q=\u00e9', '/a"b', '/x/./y']) {
    const result = safeReturnTo(input);
    t.not(result, null, input);
    t.equal(safeReturnTo(result), result, input);
  }
});

// Property: from a hostile alphabet of pieces, no input throws, and every accepted value keeps the
// browser on the tenant host and validates to itself. Seeded so a failure can be replayed.
const PIECES = [
  '/', '/', '/', '\\', '%', '%2F', '%2f', '%5C', '%5c', '%09', '%0a', '%0D', '%00', '%20', '%2e', '%2E',
  '%25', '%%', '.', '..', ':', '@', '?', '#', '&', '=', '+', ' ', '\t', '\n', '\r', '\u0000', '\u000b',
  '\u007f', '\u00a0', '\u3000', '\u2028', '\ufeff', '／', '＼', '\ud800', 'é', 'evil.com', 'tenant.invalid',
  'localhost', 'http', 'https:', 'javascript:', 'data:', 'a', 'b', '1', '[', ']', '~', ';', 'patients',
];

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function hostileString(random: () => number): string {
  const count = Math.floor(random() * 12);
  let text = random() < 0.6 ? '/' : '';
  for (let i = 0; i < count; i++) text += PIECES[Math.floor(random() * PIECES.length)];
  return text;
}

for (const seed of [1, 2, 3, randomInt(2 ** 31)]) {
  t.test(`property: random hostile strings (seed ${seed})`, async (t) => {
    const random = mulberry32(seed);
    const failures: Array<{ input: string; problem: string }> = [];
    let acceptedCount = 0;
    for (let i = 0; i < 20_000; i++) {
      const input = hostileString(random);
      let result: string | null;
      try {
        result = safeReturnTo(input);
      } catch (error) {
        failures.push({ input, problem: `threw ${String(error)}` });
        continue;
      }
      if (result === null) continue;
      acceptedCount++;
      if (!staysOnTenantHost(result)) failures.push({ input, problem: `leaves the host: ${result}` });
      if (safeReturnTo(result) !== result) failures.push({ input, problem: `not stable: ${result}` });
      if (/[\u0000-\u0020\u007f-\uffff\\]/.test(result)) failures.push({ input, problem: `unsafe characters: ${result}` });
    }
    t.same(failures, [], `no failures (replay with seed ${seed})`);
    t.ok(acceptedCount > 100, `the generator also produces accepted paths (${acceptedCount})`);
  });
}
