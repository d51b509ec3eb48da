// The sign-up form's pure rules: the address suggested from a clinic's name, why an address is
// refused, and every field checked at once.
import t from 'tap';
import { slugProblem, suggestSlug, validateSignup } from '../../src/signup/form.ts';
import { describeRegion } from '../../src/signup/regions.ts';

t.test('an address suggested from the clinic name', async (t) => {
  const cases: [string, string][] = [
    ['Acme Physio', 'acme-physio'],
    ['  Physio Café & Co. ', 'physio-cafe-co'],
    ['Dr. Smith’s Clinic #2', 'dr-smith-s-clinic-2'],
    ['Admin', 'admin-clinic'],
    ['---', ''],
    ['理学療法', ''],
    ['ab--cd', 'ab-cd'],
    ['x'.repeat(80), 'x'.repeat(63)],
  ];
  for (const [name, slug] of cases) t.equal(suggestSlug(name), slug, name);
  for (const [name] of cases) {
    const s = suggestSlug(name);
    if (s !== '') t.equal(slugProblem(s), null, `${name}: the suggestion is usable`);
  }
});

t.test('why an address is refused', async (t) => {
  t.equal(slugProblem('acme-physio'), null);
  t.match(slugProblem(''), /Choose an address/);
  t.match(slugProblem('admin'), /reserved/);
  t.match(slugProblem('-acme'), /lowercase letters/);
  t.match(slugProblem('acme_physio'), /lowercase letters/);
  t.match(slugProblem('a'.repeat(64)), /at most 63/);
  t.match(slugProblem('xn--acme'), /international/);
});

t.test('every field is checked at once; a good form is normalised', async (t) => {
  const good = { clinicName: ' Acme ', slug: 'ACME', region: 'local', adminName: ' Jo ', email: ' Jo@Acme.Example ', password: 'correct horse battery' };
  const ok = validateSignup(good, ['local']);
  t.same(ok, { ok: true, value: { clinicName: 'Acme', slug: 'acme', regionId: 'local', adminName: 'Jo', email: 'jo@acme.example', password: 'correct horse battery' } });
  const bad = validateSignup({ clinicName: '', slug: 'www', region: 'mars', adminName: '', email: 'nope', password: 'short' }, ['local']);
  t.equal(bad.ok, false);
  if (!bad.ok) t.same(Object.keys(bad.errors).sort(), ['adminName', 'clinicName', 'email', 'password', 'region', 'slug']);
  const long = validateSignup({ ...good, password: 'x'.repeat(1025) }, ['local']);
  t.match(long, { ok: false, errors: { password: /at most 1024/ } });
});

t.test('regions in words', async (t) => {
  t.equal(describeRegion('au').place, 'in Australia');
  t.equal(describeRegion('eu-west').place, 'in the European Union');
  t.equal(describeRegion('zz').place, 'in the "zz" region');
});
