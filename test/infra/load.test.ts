// What an instance does with more than it can serve (src/infra/load.ts): per-address limits on the
// sign-in form and the anonymous button path (429 + Retry-After; signed-in staff never limited
// there; IPv6 by /64), and load shedding (503 + Retry-After for everything but the liveness probe).
// Overload is forced deterministically with a heap limit no process meets.
import t from 'tap';
import { buildTestApp } from '../helpers/app.ts';
import { PASSWORD, PATIENT_PATH, TEST_AUTH_ENV, addUser, client, registerEchoRoutes, signInWithPassword } from '../helpers/fixtures.ts';

t.test('per-address limits: the anonymous button path and the sign-in form', async (t) => {
  const { runtime, address } = await buildTestApp(t, {
    listen: true,
    extend: registerEchoRoutes,
    env: { ...TEST_AUTH_ENV, TRUSTED_PROXIES: '127.0.0.1', RATE_LIMIT_ANONYMOUS_PATIENT_PER_MINUTE: '3', RATE_LIMIT_SIGN_IN_PER_MINUTE: '4' },
  });
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  await addUser(runtime, 'acme', { email: 'jo@acme.example' });
  const acme = `http://acme.localhost:${new URL(address!).port}`;
  const from = (ip: string) => ({ headers: { 'x-forwarded-for': ip } });

  const anonymous = client({}, t);
  for (let i = 1; i <= 3; i++) t.equal((await anonymous.get(`${acme}${PATIENT_PATH}`, from('2001:db8:1:2::1'))).status, 303, `anonymous click ${i}`);
  const limited = await anonymous.get(`${acme}${PATIENT_PATH}`, from('2001:db8:1:2::ffff'));
  t.equal(limited.status, 429, 'the fourth from the same /64: limited');
  t.ok(Number(limited.header('retry-after')) >= 1, 'with Retry-After');
  t.match(limited.body, /Too many requests from your address/);
  t.equal((await anonymous.get(`${acme}${PATIENT_PATH}`, from('2001:db8:1:3::1'))).status, 303, 'another /64 is not');

  const staff = client({}, t);
  t.equal((await signInWithPassword(staff, acme, 'jo@acme.example', PASSWORD, { 'x-forwarded-for': '2001:db8:1:2::1' })).status, 303);
  for (let i = 1; i <= 5; i++) {
    t.not((await staff.get(`${acme}${PATIENT_PATH}`, from('2001:db8:1:2::1'))).status, 429, `signed in, from the limited /64, view ${i}: never limited`);
  }

  const form = client({}, t);
  const statuses = [];
  for (let i = 1; i <= 4; i++) statuses.push((await signInWithPassword(form, acme, `user${i}@acme.example`, 'not a password', { 'x-forwarded-for': '198.51.100.9' })).status);
  t.same(statuses, [401, 401, 401, 401], 'four sign-in posts are answered (counted by the sign-in policy as failures)');
  const fifth = await signInWithPassword(form, acme, 'jo@acme.example', PASSWORD, { 'x-forwarded-for': '198.51.100.9' });
  t.equal(fifth.status, 429, 'the fifth POST in a minute from that address is refused before anything else');
  t.ok(Number(fifth.header('retry-after')) >= 1);
});

t.test('overloaded: 503 with Retry-After for every request but the liveness probe', async (t) => {
  const { app, runtime } = await buildTestApp(t, { env: { OVERLOAD_MAX_HEAP_BYTES: '1', OVERLOAD_RETRY_AFTER_SECONDS: '7' } });
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme Physio' });
  // under-pressure samples the heap once a sample interval has passed: wait for its verdict.
  await new Promise<void>((resolve) => {
    const check = () => (app.isUnderPressure() ? resolve() : setImmediate(check));
    check();
  });
  for (const url of ['/login', PATIENT_PATH, '/']) {
    const res = await app.inject({ url, headers: { host: 'acme.localhost' } });
    t.equal(res.statusCode, 503, `${url}: 503`);
    t.equal(res.headers['retry-after'], '7');
    t.match(res.body, /very busy/);
    t.notMatch(res.body, /Error|stack|heap/i);
  }
  t.equal((await app.inject({ url: '/healthz', headers: { host: '127.0.0.1' } })).statusCode, 200, 'alive: the liveness probe still answers');
  t.equal((await app.inject({ url: '/readyz', headers: { host: '127.0.0.1' } })).statusCode, 503, 'not ready: the load balancer sends traffic elsewhere');
});
