// Password sign-in throttling over real HTTP: per account and per client address, with backoff,
// refusing even the right password while locked, shared by two app instances on one database.
// Time passing is simulated by moving the stored expiry, never by sleeping.
import t from 'tap';
import { sql } from 'kysely';
import { ACCOUNT_POLICY, ADDRESS_POLICY, lockSeconds } from '../../../src/auth/password/throttle.ts';
import type { Runtime } from '../../../src/runtime.ts';
import { PASSWORD, addUser, client, signInWithPassword, startAuthApp } from '../../helpers/fixtures.ts';

t.test('lock lengths double up to a cap', async (t) => {
  const table: [number, number, number][] = [
    [1, 60, 300],
    [2, 120, 600],
    [3, 240, 1200],
    [6, 1920, 9600],
    [7, 3600, 19_200],
    [50, 3600, 21_600],
    [0, 60, 300],
    [1e9, 3600, 21_600],
  ];
  for (const [n, account, address] of table) {
    t.equal(lockSeconds(n, ACCOUNT_POLICY), account, `account lock #${n}`);
    t.equal(lockSeconds(n, ADDRESS_POLICY), address, `address lock #${n}`);
  }
});

/** Ends every current lock and failure window (as if the time had passed); keeps the lock history. */
async function letTimePass(runtime: Runtime): Promise<void> {
  await sql`update control.login_throttle set expire = 0 where key like 'login_acct:%' or key like 'login_ip:%'`.execute(runtime.databases.control);
}

t.test('per account: locked after N failures, right password refused, backoff doubles', async (t) => {
  const env = { LOGIN_MAX_FAILURES_PER_ACCOUNT: '3', LOGIN_MAX_FAILURES_PER_IP: '1000', TRUSTED_PROXIES: '127.0.0.1' };
  const { runtime, origin } = await startAuthApp(t, { env });
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await runtime.tenants.create({ slug: 'other', displayName: 'Other Clinic' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  await addUser(runtime, 'other', { email: 'jo@acme.example' });
  const acme = origin('acme');
  // Every attempt from a different address: the account limit alone must stop them.
  let n = 0;
  const from = () => ({ 'x-forwarded-for': `203.0.113.${++n}` });
  const attempt = (password: string, headers = from(), base = acme) => signInWithPassword(client({}, t), base, 'jo@acme.example', password, headers);

  for (let i = 1; i <= 3; i++) t.equal((await attempt('wrong password!')).status, 401, `failure ${i}`);
  const locked = await attempt(PASSWORD);
  t.equal(locked.status, 429, 'the right password is refused while locked');
  const first = Number(locked.header('retry-after'));
  t.ok(first > 0 && first <= 60, `Retry-After ${first}s within the first lock`);
  t.match(locked.body, /Too many sign-in attempts/);
  t.equal(locked.header('cache-control'), 'no-store');
  t.equal((await attempt('wrong password!')).status, 429, 'wrong passwords too');
  // Unknown accounts are counted the same way (no hint that they do not exist).
  const ghost = async () => signInWithPassword(client({}, t), acme, 'ghost@acme.example', 'whatever it is', from());
  for (let i = 1; i <= 3; i++) t.equal((await ghost()).status, 401);
  t.equal((await ghost()).status, 429, 'an unknown e-mail locks like a real one');

  // The same e-mail at another clinic is another account.
  t.equal((await attempt(PASSWORD, from(), origin('other'))).status, 303, 'other clinic unaffected');

  await letTimePass(runtime);
  for (let i = 1; i <= 3; i++) t.equal((await attempt('wrong password!')).status, 401, `after the lock, failure ${i}`);
  const second = Number((await attempt(PASSWORD)).header('retry-after'));
  t.ok(second > 60 && second <= 120, `second lock is longer: ${second}s`);

  // A successful sign-in clears the account's count (and its lock history).
  await letTimePass(runtime);
  t.equal((await attempt(PASSWORD)).status, 303);
  for (let i = 1; i <= 2; i++) t.equal((await attempt('wrong password!')).status, 401);
  t.equal((await attempt(PASSWORD)).status, 303, 'two failures after a success: not locked');
  for (let i = 1; i <= 3; i++) await attempt('wrong password!');
  const afterReset = Number((await attempt(PASSWORD)).header('retry-after'));
  t.ok(afterReset <= 60, 'backoff starts again after a success');
});

t.test('per client address: many accounts from one address', async (t) => {
  const env = { LOGIN_MAX_FAILURES_PER_ACCOUNT: '100', LOGIN_MAX_FAILURES_PER_IP: '5', TRUSTED_PROXIES: '127.0.0.1' };
  const { runtime, origin } = await startAuthApp(t, { env });
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  const acme = origin('acme');
  const attacker = { 'x-forwarded-for': '198.51.100.7' };

  for (let i = 1; i <= 5; i++) {
    t.equal((await signInWithPassword(client({}, t), acme, `user${i}@acme.example`, 'password spraying', attacker)).status, 401);
  }
  const blocked = await signInWithPassword(client({}, t), acme, 'jo@acme.example', PASSWORD, attacker);
  t.equal(blocked.status, 429, 'the address is locked, whatever the account');
  const retry = Number(blocked.header('retry-after'));
  t.ok(retry > 60 && retry <= 300, `Retry-After ${retry}s`);
  t.equal((await signInWithPassword(client({}, t), acme, 'jo@acme.example', PASSWORD, { 'x-forwarded-for': '192.0.2.1' })).status, 303, 'other addresses are not');
});

t.test('two app instances share the counts', async (t) => {
  const env = { LOGIN_MAX_FAILURES_PER_ACCOUNT: '4', LOGIN_MAX_FAILURES_PER_IP: '1000' };
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
