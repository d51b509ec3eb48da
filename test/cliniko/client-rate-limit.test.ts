// The client under Cliniko's rate limit, against the simulator with small windows. Assertions are
// on counts (requests, 429s, most served in a window), never on elapsed time.
import t, { type Test } from 'tap';
import { createClinikoClient, type ClinikoClientOptions } from '../../src/cliniko/client/client.ts';
import { ClinikoError } from '../../src/cliniko/client/errors.ts';
import { createClinikoSimulator, type SimulatorOptions } from '../../src/cliniko/simulator/index.ts';

const KEY = 'ratelimitedclinickey-au3';

/** A simulator with one account and `count` patients, and a client pointing at it. */
async function setup(t: Test, count: number, simOptions: SimulatorOptions, clientOptions: Partial<ClinikoClientOptions>) {
  const sim = createClinikoSimulator(simOptions);
  sim.addAccount({ shard: 'au3', apiKey: KEY, accountId: '836447129235800003', subdomain: 'busy', user: { id: '836447129235810003' } });
  const ids = Array.from({ length: count }, (_, i) => String(836447129235890000n + BigInt(i)));
  for (const id of ids) sim.addPatient(KEY, { id, first_name: `Patient ${id}` });
  const address = await sim.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => sim.close());
  const client = createClinikoClient({
    apiBase: `http://api.{shard}.cliniko.localhost:${new URL(address).port}/v1`,
    contactEmail: 'tests@sidechart.example',
    ...clientOptions,
  });
  t.teardown(() => client.close());
  return { sim, client, ids };
}

t.test('client limiter under the server limit: 30 requests, no 429, all answered', async (t) => {
  // The client sends at most 5 per 1.5 s, the server takes 10 per 1 s: only if a whole batch were
  // held up for more than a window (a loaded machine) could two batches meet in one server window,
  // and even then they fit. The margin is what makes this independent of scheduling.
  const { sim, client, ids } = await setup(t, 30, { rateLimit: { limit: 10, windowMs: 1_000 } }, { rateLimit: { limit: 5, windowMs: 1_000, marginMs: 500 } });
  const patients = await Promise.all(ids.map((id) => client.getPatient(KEY, id, { deadlineMs: 15_000 })));
  t.same(patients.map((p) => p.id), ids);
  t.equal(sim.requestCount(), 30, 'exactly one request per patient');
  t.equal(sim.stats().rateLimited, 0, 'the simulator never had to refuse');
  t.ok(sim.stats().maxServedInWindow <= 10, `at most 10 served per window (saw ${sim.stats().maxServedInWindow})`);
});

t.test('a 429 storm: the client waits for X-RateLimit-Reset and every request succeeds', async (t) => {
  // The client's own budget is far above the server's, so 429s do happen.
  const { sim, client, ids } = await setup(t, 30, { rateLimit: { limit: 10, windowMs: 1_000 } }, { rateLimit: { limit: 1_000, windowMs: 1_000 }, maxRateLimitWaits: 10 });
  const patients = await Promise.all(ids.map((id) => client.getPatient(KEY, id, { deadlineMs: 20_000 })));
  t.same(patients.map((p) => p.id), ids);
  const stats = sim.stats();
  t.ok(stats.rateLimited > 0, `the simulator sent 429s (${stats.rateLimited})`);
  t.ok(stats.maxServedInWindow <= 10, 'never more than the limit served in a window');
  t.equal(sim.requestCount({ status: 200 }), 30);
  t.equal(sim.requestCount({ status: 429 }), stats.rateLimited);
  t.equal(sim.requestCount(), 30 + stats.rateLimited, 'every extra request was a 429 being waited out');
});

t.test('reset beyond the deadline: rate_limited at once, and the key stays paused', async (t) => {
  const { sim, client, ids } = await setup(t, 3, { rateLimit: { limit: 1, windowMs: 60_000 } }, {});
  const [first = '', second = '', third = ''] = ids;
  t.equal((await client.getPatient(KEY, first)).id, first);

  const error = await client.getPatient(KEY, second, { deadlineMs: 1_000 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(error instanceof ClinikoError && error.kind === 'rate_limited', 'rate_limited');
  t.ok(error instanceof ClinikoError && error.retryAt !== undefined && error.retryAt > Date.now(), 'says when to retry');
  t.equal(sim.requestCount(), 2);

  // The next call knows the key is paused and does not spend a request to learn it again.
  const again = await client.getPatient(KEY, third, { deadlineMs: 1_000 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(again instanceof ClinikoError && again.kind === 'rate_limited');
  t.equal(sim.requestCount(), 2);
});
