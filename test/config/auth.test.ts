// The sign-in settings in configuration: defaults, and one line naming the variable when wrong.
import t from 'tap';
import { PRODUCTION_ENV, assertConfigRefuses } from '../helpers/app.ts';
import { ConfigError, loadConfig } from '../../src/config.ts';

const production = PRODUCTION_ENV;

t.test('defaults', async (t) => {
  t.same(loadConfig({}).auth, { passwordHashMemoryKib: 65_536, loginMaxFailuresPerAccountAndAddress: 5, loginMaxFailuresPerAccount: 20, loginMaxFailuresPerIp: 100 });
  t.same(loadConfig({ PASSWORD_HASH_MEMORY_KIB: '64', LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: '2', LOGIN_MAX_FAILURES_PER_ACCOUNT: '3', LOGIN_MAX_FAILURES_PER_IP: '7' }).auth, {
    passwordHashMemoryKib: 64, loginMaxFailuresPerAccountAndAddress: 2, loginMaxFailuresPerAccount: 3, loginMaxFailuresPerIp: 7,
  });
  t.equal(loadConfig({ ...production, PASSWORD_HASH_MEMORY_KIB: '19456' }).auth.passwordHashMemoryKib, 19_456);
});

t.test('bad values name the variable, on one line', async (t) => {
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ PASSWORD_HASH_MEMORY_KIB: '32' }, 'PASSWORD_HASH_MEMORY_KIB', /from 64 to/],
    [{ PASSWORD_HASH_MEMORY_KIB: 'lots' }, 'PASSWORD_HASH_MEMORY_KIB', /whole number/],
    [{ ...production, PASSWORD_HASH_MEMORY_KIB: '1024' }, 'PASSWORD_HASH_MEMORY_KIB', /at least 19456 in production/],
    [{ LOGIN_MAX_FAILURES_PER_ACCOUNT: '0' }, 'LOGIN_MAX_FAILURES_PER_ACCOUNT', /from 1 to/],
    [{ LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: 'many' }, 'LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS', /whole number/],
    [{ LOGIN_MAX_FAILURES_PER_IP: '-5' }, 'LOGIN_MAX_FAILURES_PER_IP', /whole number/],
  ];
  for (const [env, variable, message] of cases) {
    assertConfigRefuses(t, env, variable, message);
  }
});
