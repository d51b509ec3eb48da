import t from 'tap';
import { checkSlug, isValidHostname, parseHost, RESERVED_LABELS, type HostResolution } from '../../src/tenancy/host.ts';

const BASES = ['example.com', 'localhost'];
const l63 = 'a'.repeat(63);
const l64 = 'a'.repeat(64);

type Expect = string | 'platform' | `reserved:${string}` | 'invalid';

// [host, expected]: a slug means "tenant with that slug".
const cases: [unknown, Expect][] = [
  // The seed's own examples (cliniko-api.md).
  ['au.example.com', 'au'],
  ['staging-au1.example.com', 'staging-au1'],
  ['fr.eu.example.com', 'invalid'],
  // Plain tenants, case, ports.
  ['acme-physio.example.com', 'acme-physio'],
  ['ACME-Physio.Example.COM', 'acme-physio'],
  ['acme.example.com:443', 'acme'],
  ['acme.example.com:3000', 'acme'],
  ['acme.localhost:3000', 'acme'],
  ['acme.localhost', 'acme'],
  ['a.example.com', 'a'],
  ['1.example.com', '1'],
  ['123clinic.example.com', '123clinic'],
  ['clinic-2.example.com', 'clinic-2'],
  ['a-b-c-d.example.com', 'a-b-c-d'],
  ['a--b.example.com', 'a--b'],
  ['acme.example.com:', 'invalid'],
  ['acme.example.com:0', 'acme'],
  ['acme.example.com:65535', 'acme'],
  ['acme.example.com:65536', 'invalid'],
  ['acme.example.com:99999', 'invalid'],
  ['acme.example.com:80:80', 'invalid'],
  ['acme.example.com:http', 'invalid'],
  ['acme.example.com:-1', 'invalid'],
  // The platform itself.
  ['example.com', 'platform'],
  ['EXAMPLE.COM:8080', 'platform'],
  ['localhost:3000', 'platform'],
  ['www.example.com', 'platform'],
  ['WWW.localhost', 'platform'],
  // Reserved labels are never tenants.
  ['auth.example.com', 'reserved:auth'],
  ['api.example.com', 'reserved:api'],
  ['admin.localhost', 'reserved:admin'],
  ['static.example.com', 'reserved:static'],
  ['status.example.com', 'reserved:status'],
  ['mail.example.com', 'reserved:mail'],
  ['app.example.com', 'reserved:app'],
  // Multi-level and foreign.
  ['a.b.example.com', 'invalid'],
  ['www.acme.example.com', 'invalid'],
  ['evil.com', 'invalid'],
  ['evilexample.com', 'invalid'],
  ['acme.evilexample.com', 'invalid'],
  ['au.example.com.evil.com', 'invalid'],
  ['example.com.evil.com', 'invalid'],
  ['acme.example.co', 'invalid'],
  ['acme.example.comm', 'invalid'],
  ['acmeexample.com', 'invalid'],
  ['localhost.evil.com', 'invalid'],
  // Trailing dots and empty labels.
  ['acme.example.com.', 'invalid'],
  ['acme.example.com..', 'invalid'],
  ['example.com.', 'invalid'],
  ['.example.com', 'invalid'],
  ['..example.com', 'invalid'],
  ['acme..example.com', 'invalid'],
  // IP literals.
  ['127.0.0.1', 'invalid'],
  ['127.0.0.1:3000', 'invalid'],
  ['10.0.0.1', 'invalid'],
  ['[::1]', 'invalid'],
  ['[::1]:3000', 'invalid'],
  ['::1', 'invalid'],
  ['[2001:db8::1]:443', 'invalid'],
  ['2130706433', 'invalid'],
  ['0x7f000001', 'invalid'],
  // Label length.
  [`${l63}.example.com`, l63],
  [`${l64}.example.com`, 'invalid'],
  // Dashes, underscores and other characters.
  ['-acme.example.com', 'invalid'],
  ['acme-.example.com', 'invalid'],
  ['-.example.com', 'invalid'],
  ['acme_physio.example.com', 'invalid'],
  ['_acme.example.com', 'invalid'],
  ['acme physio.example.com', 'invalid'],
  ['acme%2e.example.com', 'invalid'],
  ['acme.example.com/evil', 'invalid'],
  ['acme.example.com?x', 'invalid'],
  ['acme.example.com#x', 'invalid'],
  ['user@acme.example.com', 'invalid'],
  ['acme.example.com\u0000', 'invalid'],
  ['acme.example.com\r\nX: y', 'invalid'],
  ['acme,other.example.com', 'invalid'],
  ['acme.example.com, evil.com', 'invalid'],
  ['*.example.com', 'invalid'],
  // Non-ASCII and punycode look-alikes.
  ['аcme.example.com', 'invalid'], // Cyrillic a
  ['acmé.example.com', 'invalid'],
  ['xn--acm-bma.example.com', 'invalid'],
  ['XN--80AK6AA92E.example.com', 'invalid'],
  ['ab--c.example.com', 'invalid'],
  ['acme.exаmple.com', 'invalid'],
  ['ａｃｍｅ.example.com', 'invalid'],
  // Empty and missing.
  ['', 'invalid'],
  [' ', 'invalid'],
  [':3000', 'invalid'],
  [undefined, 'invalid'],
  [null, 'invalid'],
  [42, 'invalid'],
  [['acme.example.com'], 'invalid'],
  ['x'.repeat(400), 'invalid'],
];

function summarize(r: HostResolution): string {
  switch (r.kind) {
    case 'tenant':
      return r.slug;
    case 'platform':
      return 'platform';
    case 'reserved':
      return `reserved:${r.label}`;
    case 'invalid':
      return 'invalid';
  }
}

t.test('host parser table', async (t) => {
  t.ok(cases.length >= 60, `at least 60 cases (${cases.length})`);
  for (const [host, expected] of cases) {
    t.equal(summarize(parseHost(host, BASES)), expected, JSON.stringify(host));
  }
});

t.test('the longest base domain wins when base domains nest', async (t) => {
  const bases = ['example.com', 'staging.example.com'];
  t.same(parseHost('acme.staging.example.com', bases), { kind: 'tenant', slug: 'acme', baseDomain: 'staging.example.com' });
  t.same(parseHost('staging.example.com', bases), { kind: 'platform', baseDomain: 'staging.example.com' });
  t.same(parseHost('acme.example.com', bases), { kind: 'tenant', slug: 'acme', baseDomain: 'example.com' });
  t.equal(parseHost('a.b.staging.example.com', bases).kind, 'invalid');
  // With only the parent configured, the staging host is a tenant called "staging"... which is reserved.
  t.equal(parseHost('staging.example.com', ['example.com']).kind, 'reserved');
});

t.test('slug rule for creation matches the host rule', async (t) => {
  for (const slug of ['acme', 'acme-physio', 'a', '1', l63, 'clinic-42']) t.ok(checkSlug(slug).ok, slug);
  for (const slug of ['', '-a', 'a-', 'A', 'a_b', 'a.b', l64, 'xn--abc', 'ab--cd', 'é', ' a']) t.notOk(checkSlug(slug).ok, JSON.stringify(slug));
  for (const reserved of RESERVED_LABELS) t.notOk(checkSlug(reserved).ok, `${reserved} is reserved`);
});

t.test('base domain validation', async (t) => {
  for (const ok of ['localhost', 'example.com', 'sidechart.app', 'staging.example.com', 'a-b.c']) t.ok(isValidHostname(ok), ok);
  for (const bad of ['', '127.0.0.1', '-a.com', 'a..com', 'a_b.com', 'exa mple.com', '.com', 'x'.repeat(254)]) t.notOk(isValidHostname(bad), bad);
});

// The rule, written independently of the parser, for the randomized test.
function ruleAccepts(host: string): { slug: string } | null {
  const m = /^([a-z0-9-]{1,63})\.(example\.com|localhost)(:(\d{1,5}))?$/i.exec(host);
  if (!m) return null;
  const label = m[1]!.toLowerCase();
  if (label.startsWith('-') || label.endsWith('-') || label.slice(2, 4) === '--') return null;
  if (m[4] !== undefined && Number(m[4]) > 65535) return null;
  if (RESERVED_LABELS.has(label)) return null;
  return { slug: label };
}

t.test('randomized: never throws, accepts exactly what the rule accepts', async (t) => {
  const alphabet = 'abcxyzABC019-_.:[]@/%\\ \t\u0000éа'.split('');
  const suffixes = ['.example.com', '.localhost', '.example.com:3000', '.evil.com', '', '.localhost.', 'example.com'];
  let seed = 20261124;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  let accepted = 0;
  for (let i = 0; i < 20000; i++) {
    const length = random(12);
    let label = '';
    for (let j = 0; j < length; j++) label += alphabet[random(alphabet.length)];
    const host = label + suffixes[random(suffixes.length)];
    let result: HostResolution;
    try {
      result = parseHost(host, BASES);
    } catch (error) {
      t.fail(`threw on ${JSON.stringify(host)}: ${String(error)}`);
      continue;
    }
    const expected = ruleAccepts(host);
    if (result.kind === 'tenant') {
      accepted++;
      if (!expected || expected.slug !== result.slug) t.fail(`accepted ${JSON.stringify(host)} as ${result.slug}`);
    } else if (expected) {
      t.fail(`refused ${JSON.stringify(host)} (${result.kind}) which the rule accepts`);
    }
  }
  t.ok(accepted > 100, `the generator reaches accepted hosts too (${accepted})`);
});
