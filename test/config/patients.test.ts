// The patient button's settings: defaults, validation naming the variable, and the API base that
// points at the development simulator only by configuration.
import t from 'tap';
import { loadConfig } from '../../src/config.ts';

t.test('defaults', async (t) => {
  const config = loadConfig({ CLINIKO_SIMULATOR: 'false' });
  t.same(config.patients, { fetchBudgetMs: 2000, refreshBudgetMs: 300, syncDeadlineMs: 10_000, freshSeconds: 300, retryAfterFailureSeconds: 30 });
  t.equal(config.cliniko.apiBase, 'https://api.{shard}.cliniko.com/v1');
});

t.test('with the development simulator on, the API base points at it unless configured', async (t) => {
  t.equal(loadConfig({ CLINIKO_SIMULATOR_PORT: '4555' }).cliniko.apiBase, 'http://api.{shard}.cliniko.localhost:4555/v1');
  t.equal(loadConfig({ CLINIKO_API_BASE: 'https://api.{shard}.example.org/v1' }).cliniko.apiBase, 'https://api.{shard}.example.org/v1');
});

t.test('bad values stop the process naming the variable', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PATIENT_FETCH_BUDGET_MS: 'soon' }, /^PATIENT_FETCH_BUDGET_MS: must be a whole number/],
    [{ PATIENT_FETCH_BUDGET_MS: '10' }, /^PATIENT_FETCH_BUDGET_MS: must be a whole number from 50/],
    [{ PATIENT_FRESH_SECONDS: '-1' }, /^PATIENT_FRESH_SECONDS/],
    [{ PATIENT_REFRESH_BUDGET_MS: '3000' }, /^PATIENT_REFRESH_BUDGET_MS: must not exceed PATIENT_FETCH_BUDGET_MS \(2000\)/],
    [{ PATIENT_SYNC_DEADLINE_MS: '1000' }, /^PATIENT_SYNC_DEADLINE_MS: must be at least PATIENT_FETCH_BUDGET_MS \(2000\)/],
    [{ PATIENT_SYNC_RETRY_SECONDS: 'x' }, /^PATIENT_SYNC_RETRY_SECONDS/],
  ];
  for (const [env, message] of cases) t.throws(() => loadConfig(env), message, JSON.stringify(env));
});

t.test('CLINIKO_MAX_RESPONSE_BYTES: 2 MiB by default, from 64 KiB to 256 MiB', async (t) => {
  t.equal(loadConfig({}).cliniko.maxResponseBytes, 2_097_152);
  t.equal(loadConfig({ CLINIKO_MAX_RESPONSE_BYTES: '65536' }).cliniko.maxResponseBytes, 65_536);
  for (const value of ['65535', '268435457', '2MiB', '-1']) {
    t.throws(() => loadConfig({ CLINIKO_MAX_RESPONSE_BYTES: value }), /^CLINIKO_MAX_RESPONSE_BYTES: must be a whole number from 65536 to 268435456/, value);
  }
});
