// Password sign-in throttling over real HTTP (src/auth/password/throttle.ts): hard per account and
// address, soft per account, per address at one clinic (IPv6 by /64), counted before any password
// is checked so that concurrent guesses cannot slip past, shared by two app instances. Time passing
// is simulated by moving the stored expiry, never by sleeping.
import t from 'tap';
import { sql } from 'kysely';
import { ACCOUNT_POLICY, ADDRESS_POLICY, PAIR_POLICY, addressPrefix, lockSeconds } from '../../../src/auth/password/throttle.ts';
import type { Runtime } from '../../../src/runtime.ts';
import { PASSWORD, addUser, client, csrfTokenIn, signInWithPassword, startAuthApp } from '../../helpers/fixtures.ts';

t.test('lock lengths double up to a cap', async (t) => {
  const table: [number, number, number, number][] = [
    [1, 60, 30, 300],
    [2, 120, 60, 600],
    [3, 240, 120, 1200],
    [5, 960, 300, 4800],
    [7, 3600, 300, 19_200],
    [50, 3600, 300, 21_600],
    [0, 60, 30, 300],
    [1e9, 3600, 300, 21_600],
  ];
  for (const [n, pair, account, address] of table) {
    t.equal(lockSeconds(n, PAIR_POLICY), pair, `account+address lock #${n}`);
    t.equal(lockSeconds(n, ACCOUNT_POLICY), account, `account lock #${n} (soft: minutes at most)`);
    t.equal(lockSeconds(n, ADDRESS_POLICY), address, `address lock #${n}`);
  }
});

t.test('addresses count by IPv4 address and by IPv6 /64', async (t) => {
  const table: [string, string][] = [
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1:2:3:4', 'fe80:0:0:0::/64'],
    ['not an address', 'not an address'],
  ];
  for (const [ip, prefix] of table) t.equal(addressPrefix(ip), prefix, ip);
});

/** Ends every current lock and failure window (as if the time had passed); keeps the lock history. */
async function letTimePass(runtime: Runtime): Promise<void> {
  await sql`update control.login_throttle set expire = 0 where key like 'login_pair:%' or key like 'login_acct:%' or key like 'login_ip:%'`.execute(runtime.databases.control);
}

const ENV = { TRUSTED_PROXIES: '127.0.0.1' };

t.test('one address, one account: locked hard with backoff, but the clinician at another address is not', async (t) => {
  const { runtime, origin } = await startAuthApp(t, { env: { ...ENV, LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: '3' } });
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  const acme = origin('acme');
  const stranger = { 'x-forwarded-for': '198.51.100.7' };
  const attempt = (password: string, headers = stranger) => signInWithPassword(client({}, t), acme, 'jo@acme.example', password, headers);

  for (let i = 1; i <= 3; i++) t.equal((await attempt('wrong password!')).status, 401, `failure ${i}`);
  const locked = await attempt(PASSWORD);
  t.equal(locked.status, 429, 'from that address, the right password is refused too');
  const first = Number(locked.header('retry-after'));
  t.ok(first > 0 && first <= 60, `Retry-After ${first}s within the first lock`);
  t.match(locked.body, /Too many sign-in attempts/);
  t.equal(locked.header('cache-control'), 'no-store');
  t.equal((await attempt(PASSWORD, { 'x-forwarded-for': '192.0.2.10' })).status, 303, 'the clinician at the practice signs in: a stranger cannot lock them out');

  await letTimePass(runtime);
  for (let i = 1; i <= 3; i++) t.equal((await attempt('wrong password!')).status, 401, `after the lock, failure ${i}`);
  const second = Number((await attempt(PASSWORD)).header('retry-after'));
  t.ok(second > 60 && second <= 120, `the second lock is longer: ${second}s`);
});

t.test('one account from many addresses: soft locks of minutes, cleared by a success', async (t) => {
  const { runtime, origin } = await startAuthApp(t, { env: { ...ENV, LOGIN_MAX_FAILURES_PER_ACCOUNT: '3' } });
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await runtime.tenants.create({ slug: 'other', displayName: 'Other Clinic' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  await addUser(runtime, 'other', { email: 'jo@acme.example' });
  const acme = origin('acme');
  let n = 0;
  const from = () => ({ 'x-forwarded-for': `203.0.113.${++n}` });
  const attempt = (password: string, base = acme) => signInWithPassword(client({}, t), base, 'jo@acme.example', password, from());

  for (let i = 1; i <= 3; i++) t.equal((await attempt('wrong password!')).status, 401, `failure ${i}, each from another address`);
  const locked = await attempt(PASSWORD);
  t.equal(locked.status, 429, 'the account limit alone stops a guesser spread over addresses');
  t.ok(Number(locked.header('retry-after')) <= ACCOUNT_POLICY.baseLockSeconds, 'for seconds, not an hour');
  const ghost = async () => signInWithPassword(client({}, t), acme, 'ghost@acme.example', 'whatever it is', from());
  for (let i = 1; i <= 3; i++) t.equal((await ghost()).status, 401);
  t.equal((await ghost()).status, 429, 'an unknown e-mail locks like a real one (no hint that it does not exist)');
  t.equal((await attempt(PASSWORD, origin('other'))).status, 303, 'the same e-mail at another clinic is another account');

  for (let lock = 2; lock <= 6; lock++) {
    await letTimePass(runtime);
    for (let i = 1; i <= 3; i++) await attempt('wrong password!');
    const seconds = Number((await attempt(PASSWORD)).header('retry-after'));
    t.ok(seconds <= ACCOUNT_POLICY.maxLockSeconds, `lock ${lock}: ${seconds}s, never more than ${ACCOUNT_POLICY.maxLockSeconds}s`);
  }

  await letTimePass(runtime);
  t.equal((await attempt(PASSWORD)).status, 303);
  for (let i = 1; i <= 2; i++) t.equal((await attempt('wrong password!')).status, 401);
  t.equal((await attempt(PASSWORD)).status, 303, 'two failures after a success: not locked');
  for (let i = 1; i <= 3; i++) await attempt('wrong password!');
  t.ok(Number((await attempt(PASSWORD)).header('retry-after')) <= ACCOUNT_POLICY.baseLockSeconds, 'backoff starts again after a success');
});

t.test('one address, many accounts: per clinic, IPv6 by /64', async (t) => {
  const { runtime, origin } = await startAuthApp(t, { env: { ...ENV, LOGIN_MAX_FAILURES_PER_IP: '5' } });
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await runtime.tenants.create({ slug: 'other', displayName: 'Other Clinic' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  await addUser(runtime, 'other', { email: 'jo@acme.example' });
  const acme = origin('acme');
  const spray = (i: number, ip: string) => signInWithPassword(client({}, t), acme, `user${i}@acme.example`, 'password spraying', { 'x-forwarded-for': ip });

  for (let i = 1; i <= 5; i++) t.equal((await spray(i, `2001:db8:aa:bb::${i}`)).status, 401, `spray ${i} from another host of one /64`);
  const blocked = await signInWithPassword(client({}, t), acme, 'jo@acme.example', PASSWORD, { 'x-forwarded-for': '2001:db8:aa:bb:ffff::1' });
  t.equal(blocked.status, 429, 'the whole /64 is locked at this clinic, whatever the account');
  const retry = Number(blocked.header('retry-after'));
  t.ok(retry > 60 && retry <= 300, `Retry-After ${retry}s`);
  t.equal((await signInWithPassword(client({}, t), acme, 'jo@acme.example', PASSWORD, { 'x-forwarded-for': '2001:db8:aa:cc::1' })).status, 303, 'the next /64 is not');
  t.equal((await signInWithPassword(client({}, t), origin('other'), 'jo@acme.example', PASSWORD, { 'x-forwarded-for': '2001:db8:aa:bb::1' })).status, 303, 'nor is another clinic from the same address');
});

t.test('concurrent guesses are counted before any password is checked', async (t) => {
  const { runtime, origin } = await startAuthApp(t, { env: ENV });
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  const acme = origin('acme');
  const from = { 'x-forwarded-for': '198.51.100.50' };
  /** Sign-in forms fetched first, then every POST sent at once. */
  const burst = async (passwords: string[]) => {
    const forms = [];
    for (const password of passwords) {
      const http = client({}, t);
      forms.push({ http, password, csrf: csrfTokenIn(await http.get(`${acme}/login`, { headers: from })) });
    }
    const answers = await Promise.all(forms.map((f) => f.http.post(`${acme}/login`, { email: 'jo@acme.example', password: f.password, _csrf: f.csrf }, { headers: from })));
    const count = (status: number) => answers.filter((a) => a.status === status).length;
    return { wrong: count(401), refused: count(429), signedIn: count(303), other: answers.length - count(401) - count(429) - count(303) };
  };

  const fifty = await burst(Array<string>(50).fill('wrong password!'));
  t.same(fifty, { wrong: 5, refused: 45, signedIn: 0, other: 0 }, '50 at once: exactly the 5 the limit allows were verified');

  await letTimePass(runtime);
  const mixed = await burst([...Array<string>(15).fill('wrong password!'), PASSWORD]);
  t.equal(mixed.other, 0);
  t.ok(mixed.wrong + mixed.signedIn <= 5, `15 wrong and 1 right at once: ${mixed.wrong + mixed.signedIn} verified, never more than 5`);
  t.equal(mixed.refused, 16 - mixed.wrong - mixed.signedIn);
});

t.test('two app instances share the counts', async (t) => {
  const env = { LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: '4' };
  const one = await startAuthApp(t, { env });
  const two = await startAuthApp(t, { env: { ...env, DATABASE_URL: one.env.DATABASE_URL! } });
  await one.runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await addUser(one.runtime, 'acme', { email: 'jo@acme.example' });
  const attempt = (app: typeof one, password: string) => signInWithPassword(client({}, t), app.origin('acme'), 'jo@acme.example', password);

  t.equal((await attempt(one, 'wrong password!')).status, 401);
  t.equal((await attempt(two, 'wrong password!')).status, 401);
  t.equal((await attempt(one, 'wrong password!')).status, 401);
  t.equal((await attempt(two, 'wrong password!')).status, 401, 'the fourth failure, counted across both');
  t.equal((await attempt(one, PASSWORD)).status, 429, 'locked on instance one');
  t.equal((await attempt(two, PASSWORD)).status, 429, 'and on instance two');
});
