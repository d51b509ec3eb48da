import { randomInt } from 'node:crypto';
import t from 'tap';
import { PATIENT_ID_MAX, parsePatientId } from '../../src/patients/patient-id.ts';

const MAX = 2n ** 63n - 1n;

t.test('PATIENT_ID_MAX is 2^63 - 1', async (t) => {
  t.equal(PATIENT_ID_MAX, MAX.toString());
});

t.test('valid IDs are accepted exactly, as strings', async (t) => {
  for (const id of ['1', '9', '10', '836447129235883061', '9007199254740993', '9223372036854775806', '9223372036854775807', '1000000000000000000']) {
    t.same(parsePatientId({ patient_id: id }), { ok: true, id }, id);
  }
  t.same(parsePatientId({ patient_id: '836447129235883061', other: 'x' }), { ok: true, id: '836447129235883061' }, 'other parameters are ignored');
  const nullPrototype = Object.assign(Object.create(null) as object, { patient_id: '42' });
  t.same(parsePatientId(nullPrototype), { ok: true, id: '42' }, "Fastify's null-prototype query object");
});

t.test('invalid IDs get a reason for the 400 page', async (t) => {
  const cases: Array<[string, unknown, string]> = [
    ['2^63', { patient_id: '9223372036854775808' }, 'patient_id is out of range'],
    ['2^64 - 1', { patient_id: '18446744073709551615' }, 'patient_id is out of range'],
    ['19 nines', { patient_id: '9999999999999999999' }, 'patient_id is out of range'],
    ['20 digits', { patient_id: '12345678901234567890' }, 'patient_id is out of range'],
    ['300 digits', { patient_id: '7'.repeat(300) }, 'patient_id is out of range'],
    ['zero', { patient_id: '0' }, 'patient_id is out of range'],
    ['leading zeros', { patient_id: '007' }, 'patient_id must not start with 0'],
    ['zeros only', { patient_id: '000' }, 'patient_id must not start with 0'],
    ['leading zero on the max', { patient_id: '09223372036854775807' }, 'patient_id must not start with 0'],
    ['negative', { patient_id: '-1' }, 'patient_id must be digits only'],
    ['plus sign', { patient_id: '+1' }, 'patient_id must be digits only'],
    ['exponent', { patient_id: '1e3' }, 'patient_id must be digits only'],
    ['decimal point', { patient_id: '1.0' }, 'patient_id must be digits only'],
    ['leading space', { patient_id: ' 1' }, 'patient_id must be digits only'],
    ['trailing space', { patient_id: '1 ' }, 'patient_id must be digits only'],
    ['trailing newline', { patient_id: '1\n' }, 'patient_id must be digits only'],
    ['fullwidth digits', { patient_id: '１２３' }, 'patient_id must be digits only'],
    ['Arabic-Indic digits', { patient_id: '١٢٣' }, 'patient_id must be digits only'],
    ['hexadecimal', { patient_id: '0x1F' }, 'patient_id must be digits only'],
    ['letters after digits', { patient_id: '12abc' }, 'patient_id must be digits only'],
    ['thousands separator', { patient_id: '1,000' }, 'patient_id must be digits only'],
    ['underscore separator', { patient_id: '1_000' }, 'patient_id must be digits only'],
    ['empty', { patient_id: '' }, 'patient_id is empty'],
    ['missing', {}, 'patient_id is missing'],
    ['other parameter only', { patientId: '1' }, 'patient_id is missing'],
    ['explicitly undefined', { patient_id: undefined }, 'patient_id is missing'],
    ['no query at all', undefined, 'patient_id is missing'],
    ['null query', null, 'patient_id is missing'],
    ['query is a string', 'patient_id=1', 'patient_id is missing'],
    ['query is an array', [['patient_id', '1']], 'patient_id is missing'],
    ['inherited, not own', Object.create({ patient_id: '1' }) as object, 'patient_id is missing'],
    ['repeated parameter', { patient_id: ['1', '2'] }, 'patient_id was given more than once'],
    ['repeated identical values', { patient_id: ['836447129235883061', '836447129235883061'] }, 'patient_id was given more than once'],
    ['one-element array', { patient_id: ['1'] }, 'patient_id must be a single value'],
    ['empty array', { patient_id: [] }, 'patient_id must be a single value'],
    ['object', { patient_id: { id: '1' } }, 'patient_id must be digits only'],
    ['number', { patient_id: 836447129235883061 }, 'patient_id must be digits only'],
    ['bigint', { patient_id: 5n }, 'patient_id must be digits only'],
    ['null value', { patient_id: null }, 'patient_id must be digits only'],
    ['boolean', { patient_id: true }, 'patient_id must be digits only'],
  ];
  for (const [name, query, reason] of cases) {
    t.same(parsePatientId(query), { ok: false, reason }, name);
  }
});

// Property: against an independent BigInt oracle, the parser accepts exactly the canonical decimal
// strings of [1, 2^63 - 1] and never throws. Seeded so a failure can be replayed.
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

function oracle(value: string): boolean {
  if (!/^[0-9]+$/.test(value)) return false;
  const n = BigInt(value);
  return n.toString() === value && n >= 1n && n <= MAX;
}

const CHARS = ['0', '1', '5', '9', '0', '9', '-', '+', 'e', 'x', ' ', '.', '１', '٣', 'a', '\n', '\u0000'];
const NEAR_MAX = [MAX - 2n, MAX - 1n, MAX, MAX + 1n, MAX + 2n, 2n ** 64n, 10n ** 18n - 1n, 10n ** 18n, 10n ** 19n - 1n, 10n ** 19n];

function candidate(random: () => number): unknown {
  const pick = random();
  const int = (n: number): number => Math.floor(random() * n);
  if (pick < 0.3) {
    // Any integer in [0, 2^64): uniform 64-bit, or with a random number of digits.
    const bits = (BigInt(int(2 ** 32)) << 32n) | BigInt(int(2 ** 32));
    return random() < 0.5 ? bits.toString() : (bits % 10n ** BigInt(1 + int(20))).toString();
  }
  if (pick < 0.4) return (NEAR_MAX[int(NEAR_MAX.length)]! + BigInt(int(3)) - 1n).toString();
  if (pick < 0.5) return `0${int(1000)}`;
  if (pick < 0.9) return Array.from({ length: int(22) }, () => CHARS[int(CHARS.length)]).join('');
  const odd: unknown[] = [undefined, null, 7, 7n, true, {}, ['1'], ['1', '2'], Number.MAX_SAFE_INTEGER + 2];
  return odd[int(odd.length)];
}

for (const seed of [1, 2, randomInt(2 ** 31)]) {
  t.test(`property: random candidates against a BigInt oracle (seed ${seed})`, async (t) => {
    const random = mulberry32(seed);
    const failures: Array<{ value: unknown; problem: string }> = [];
    let acceptedCount = 0;
    for (let i = 0; i < 20_000; i++) {
      const value = candidate(random);
      let result: ReturnType<typeof parsePatientId>;
      try {
        result = parsePatientId({ patient_id: value });
      } catch (error) {
        failures.push({ value: String(value), problem: `threw ${String(error)}` });
        continue;
      }
      const expected = typeof value === 'string' && oracle(value);
      if (result.ok !== expected) failures.push({ value: String(value), problem: `ok=${result.ok}, expected ${expected}` });
      if (result.ok) {
        acceptedCount++;
        if (result.id !== value) failures.push({ value: String(value), problem: `id changed to ${result.id}` });
      } else if (result.reason.length === 0 || !result.reason.startsWith('patient_id ')) {
        failures.push({ value: String(value), problem: `unclear reason "${result.reason}"` });
      }
    }
    t.same(failures, [], `no failures (replay with seed ${seed})`);
    t.ok(acceptedCount > 1000, `the generator also produces valid IDs (${acceptedCount})`);
  });
}
