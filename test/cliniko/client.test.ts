// The Cliniko client against the simulator over real HTTP, with the shard in the host name
// (api.<shard>.cliniko.localhost resolves to 127.0.0.1 inside the client).
import { inspect } from 'node:util';
import t, { type Test } from 'tap';
import { createClinikoClient, type ClinikoClientOptions } from '../../src/cliniko/client/client.ts';
import { ClinikoError } from '../../src/cliniko/client/errors.ts';
import { createClinikoSimulator, seedDemo, type SimulatorOptions } from '../../src/cliniko/simulator/index.ts';


async function setup(t: Test, simOptions: SimulatorOptions = {}, clientOptions: Partial<ClinikoClientOptions> = {}) {
  const sim = createClinikoSimulator(simOptions);
  const demo = seedDemo(sim);
  const seen: Record<string, string | undefined>[] = [];
  sim.addHook('onRequest', async (request) => {
    seen.push({ accept: request.headers.accept, 'user-agent': request.headers['user-agent'], authorization: request.headers.authorization });
  });
  const address = await sim.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => sim.close());
  const client = createClinikoClient({
    apiBase: `http://api.{shard}.cliniko.localhost:${new URL(address).port}/v1`,
    contactEmail: 'tests@sidechart.example',
    backoff: { baseDelayMs: 10, maxDelayMs: 50 },
    ...clientOptions,
  });
  t.teardown(() => client.close());
  return { sim, demo, client, seen };
}

/** The rejection of `promise`, which must be a ClinikoError. */
async function failure(t: Test, promise: Promise<unknown>): Promise<ClinikoError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ClinikoError) return error;
    t.fail(`expected a ClinikoError, got ${inspect(error)}`);
    throw error;
  }
  t.fail('expected a rejection');
  throw new Error('resolved');
}

function assertNoKey(t: Test, error: ClinikoError, key: string): void {
  for (const text of [error.message, String(error), error.stack ?? '', JSON.stringify(error), inspect(error, { depth: 5 })]) {
    t.notOk(text.includes(key), 'the API key does not appear in the error');
  }
}

t.test('IDs above 2^53 round-trip exactly, with the headers Cliniko asks for', async (t) => {
  const { demo, client, seen } = await setup(t);
  const example = await client.getPatient(demo.apiKey, '836447129235883061');
  t.equal(example.id, '836447129235883061');
  t.equal(example.last_name, "Ngata-O'Brien");
  t.equal(example.custom_fields?.sections?.[0]?.fields[1]?.value, 'Dr "Sam" Lee & team');
  t.match(example.links?.self, /\/v1\/patients\/836447129235883061$/);

  const max = await client.getPatient(demo.apiKey, '9223372036854775807');
  t.equal(max.id, '9223372036854775807');
  t.equal(max.first_name, '<script>alert("first")</script>');
  t.ok(JSON.stringify(max).includes('"id":"9223372036854775807"'));

  const user = await client.getUser(demo.apiKey);
  t.equal(user.id, '836447129235810001');
  const settings = await client.getSettings(demo.apiKey);
  t.same(settings.account.id, '836447129235800001');
  t.equal(settings.account.subdomain, 'fitzroy-physio');

  t.equal(seen.length, 4);
  for (const headers of seen) {
    t.equal(headers.accept, 'application/json');
    t.equal(headers['user-agent'], 'Sidechart (tests@sidechart.example)');
    t.equal(headers.authorization, `Basic ${Buffer.from(`${demo.apiKey}:`).toString('base64')}`);
  }
});

t.test('a key used on another shard, or a wrong key: unauthorized, without the key in the error', async (t) => {
  const { sim, demo, client } = await setup(t);
  const otherShardKey = demo.apiKey.replace(/-au1$/, '-au2');
  for (const key of [otherShardKey, 'wrongwrongwrong-au1', 'legacykeywithoutsuffix']) {
    const error = await failure(t, client.getPatient(key, '836447129235883061'));
    t.equal(error.kind, 'unauthorized', key);
    t.equal(error.message, 'Cliniko refused the API key: the key is wrong, revoked, or belongs to another shard.');
    assertNoKey(t, error, key);
    const userError = await failure(t, client.getUser(key));
    t.equal(userError.kind, 'unauthorized');
    assertNoKey(t, userError, key);
  }
  t.equal(sim.requestCount(), 6, 'a 401 is not retried');
  t.equal(sim.requestCount({ path: '/v1/patients/836447129235883061' }), 3);
  t.ok(sim.requests().some((r) => r.host.startsWith('api.au2.')), 'the -au2 key went to the au2 host');
});

t.test('a malformed key is refused before any request', async (t) => {
  const { sim, client } = await setup(t);
  for (const key of ['', 'secret with spaces-au1', 'secretsecret-AU1', 'secret\nsecret']) {
    const error = await failure(t, client.getSettings(key));
    t.equal(error.kind, 'invalid_key', JSON.stringify(key));
    if (key.length > 0) assertNoKey(t, error, key);
  }
  t.equal(sim.requestCount(), 0);
});

t.test('unknown patient: not_found after one archived-filter lookup', async (t) => {
  const { sim, demo, client } = await setup(t);
  const error = await failure(t, client.getPatient(demo.apiKey, '836447129235899999'));
  t.equal(error.kind, 'not_found');
  assertNoKey(t, error, demo.apiKey);
  t.equal(sim.requestCount('/v1/patients/836447129235899999'), 1);
  t.equal(sim.requestCount('/v1/patients'), 1);
  t.match(sim.requests()[1]?.query, /archived_at%3A\*/);
});

t.test('archived patient, whether GET /patients/:id hides it (404) or not', async (t) => {
  const archived = '836447129235883070';
  for (const mode of ['404', 'ok'] as const) {
    const { sim, demo, client } = await setup(t, { archivedById: mode });
    const patient = await client.getPatient(demo.apiKey, archived);
    t.equal(patient.id, archived, mode);
    t.equal(patient.archived_at, '2023-08-01T06:12:00Z', mode);
    t.equal(sim.requestCount(`/v1/patients/${archived}`), 1, mode);
    t.equal(sim.requestCount('/v1/patients'), mode === '404' ? 1 : 0, `${mode}: list fallback only when needed`);
  }
});

t.test('merged patient points at the survivor', async (t) => {
  const { demo, client } = await setup(t);
  const merged = await client.getPatient(demo.apiKey, demo.patientIds.merged);
  t.ok(merged.merged_at);
  const link = merged.merged_with_patient?.links.self;
  t.match(link, new RegExp(`/v1/patients/${demo.patientIds.survivor}$`));
  const survivorId = /\/patients\/(\d+)$/.exec(String(link))?.[1] ?? '';
  const survivor = await client.getPatient(demo.apiKey, survivorId);
  t.equal(survivor.id, '836447129235883081');
  t.equal(survivor.merged_at, null);
});

t.test('5xx then success: retried; 5xx every time: unavailable after the attempt budget', async (t) => {
  const { sim, demo, client } = await setup(t, {}, { maxAttempts: 3 });
  const id = demo.patientIds.example;
  sim.setFault({ status: 503, times: 2 }, { patientId: id });
  const patient = await client.getPatient(demo.apiKey, id);
  t.equal(patient.id, id);
  t.equal(sim.requestCount({ path: `/v1/patients/${id}`, status: 503 }), 2);
  t.equal(sim.requestCount({ path: `/v1/patients/${id}`, status: 200 }), 1);

  sim.resetCounters();
  sim.setFault({ status: 502 });
  const error = await failure(t, client.getUser(demo.apiKey));
  t.equal(error.kind, 'unavailable');
  t.equal(error.upstreamStatus, 502);
  t.equal(sim.requestCount('/v1/user'), 3);
});

t.test('4xx other than 429 are not retried', async (t) => {
  const { sim, demo, client } = await setup(t);
  sim.setFault({ status: 403 });
  const error = await failure(t, client.getSettings(demo.apiKey));
  t.equal(error.kind, 'forbidden');
  t.equal(sim.requestCount('/v1/settings'), 1);
});

t.test('connection reset: unavailable after retries, within the deadline', async (t) => {
  const { sim, demo, client } = await setup(t, {}, { maxAttempts: 3 });
  sim.setFault({ reset: true }, { patientId: demo.patientIds.example });
  const error = await failure(t, client.getPatient(demo.apiKey, demo.patientIds.example, { deadlineMs: 5_000 }));
  t.equal(error.kind, 'unavailable');
  assertNoKey(t, error, demo.apiKey);
  t.equal(sim.requestCount(`/v1/patients/${demo.patientIds.example}`), 3);

  // One reset, then an answer: the retry hides it.
  sim.setFault({ reset: true, times: 1 }, { patientId: demo.patientIds.example });
  t.equal((await client.getPatient(demo.apiKey, demo.patientIds.example)).id, demo.patientIds.example);
});

t.test('hang: timeout at the deadline; other patients unaffected', async (t) => {
  const { sim, demo, client } = await setup(t);
  sim.setFault({ hang: true }, { patientId: demo.patientIds.example });
  const error = await failure(t, client.getPatient(demo.apiKey, demo.patientIds.example, { deadlineMs: 300 }));
  t.equal(error.kind, 'timeout');
  assertNoKey(t, error, demo.apiKey);
  t.equal((await client.getPatient(demo.apiKey, demo.patientIds.survivor, { deadlineMs: 2_000 })).id, demo.patientIds.survivor);

  // A caller's own signal ends its wait too.
  const controller = new AbortController();
  const pending = client.getPatient(demo.apiKey, demo.patientIds.example, { signal: controller.signal });
  controller.abort();
  t.equal((await failure(t, pending)).kind, 'timeout');
});

t.test('slow but within the deadline: answered', async (t) => {
  const { sim, demo, client } = await setup(t);
  sim.setFault({ latencyMs: 100 });
  t.equal((await client.getUser(demo.apiKey, { deadlineMs: 3_000 })).id, '836447129235810001');
});

t.test('an answer past maxResponseBytes is dropped as it streams, declared or not: bad_response, not retried', async (t) => {
  const limit = 256 * 1024;
  const { sim, demo, client } = await setup(t, {}, { maxResponseBytes: limit });
  const id = demo.patientIds.example;
  // Far more than the limit plus what sockets buffer on the way: only a client that reads it all gets to the end.
  const size = 64 * 1024 * 1024;
  for (const declareLength of [false, true]) {
    sim.resetCounters();
    sim.setFault({ enormousBytes: size, declareLength, times: 1 }, { patientId: id });
    const error = await failure(t, client.getPatient(demo.apiKey, id));
    t.equal(error.kind, 'bad_response', `declared length: ${declareLength}`);
    t.equal(error.message, `Cliniko sent an answer larger than ${limit} bytes, which Sidechart does not read.`);
    t.equal(error.upstreamStatus, 200);
    t.equal(sim.requestCount(), 1, 'not retried: Cliniko would send the same again');
    t.equal(sim.streamedBodies().completed, 0, 'the simulator was never read to the end');
    t.equal((await client.getPatient(demo.apiKey, id)).id, id, 'the next call is answered (the dropped connection is not reused)');
  }
});

t.test('a 200 that is not JSON, or JSON cut short: bad_response, not retried; a body cut off mid-way is a network failure, retried', async (t) => {
  const { sim, demo, client } = await setup(t, {}, { maxAttempts: 3 });
  const id = demo.patientIds.example;
  for (const badBody of ['not_json', 'truncated_json'] as const) {
    sim.resetCounters();
    sim.setFault({ badBody }, { patientId: id });
    const error = await failure(t, client.getPatient(demo.apiKey, id));
    t.equal(error.kind, 'bad_response', badBody);
    t.equal(error.upstreamStatus, 200);
    t.equal(sim.requestCount(), 1, `${badBody}: asked once`);
  }
  sim.resetCounters();
  sim.setFault({ badBody: 'cut_off' }, { patientId: id });
  const cut = await failure(t, client.getPatient(demo.apiKey, id));
  t.equal(cut.kind, 'unavailable');
  t.equal(sim.requestCount(), 3, 'every attempt made');
  sim.setFault({ badBody: 'cut_off', times: 1 }, { patientId: id });
  t.equal((await client.getPatient(demo.apiKey, id)).id, id, 'one cut-off answer, then a whole one: the retry hides it');
});

t.test('a 429 announced by Retry-After alone (Cliniko documents X-RateLimit-Reset) is waited out too', async (t) => {
  const { sim, demo, client } = await setup(t);
  sim.setFault({ status: 429, resetInSeconds: 1, rateLimitHeaders: 'retry_after', times: 2 });
  t.equal((await client.getUser(demo.apiKey)).id, '836447129235810001');
  t.equal(sim.requestCount({ status: 429 }), 2);
  t.equal(sim.requestCount({ status: 200 }), 1);
});

t.test('50 concurrent views of one patient: one upstream request', async (t) => {
  const { sim, demo, client } = await setup(t);
  const id = demo.patientIds.example;
  const results = await Promise.all(Array.from({ length: 50 }, () => client.getPatient(demo.apiKey, id)));
  t.equal(sim.requestCount(`/v1/patients/${id}`), 1);
  t.ok(results.every((p) => p.id === id && p.first_name === 'Aroha'));

  // Coalescing is per key: another clinic's key gets its own request.
  sim.addAccount({ shard: 'uk2', apiKey: 'otherclinickey-uk2', accountId: '2', subdomain: 'other', user: { id: '3' } });
  sim.addPatient('otherclinickey-uk2', { id, first_name: 'Someone', last_name: 'Else' });
  sim.resetCounters();
  const [mine, theirs] = await Promise.all([client.getPatient(demo.apiKey, id), client.getPatient('otherclinickey-uk2', id)]);
  t.equal(mine.first_name, 'Aroha');
  t.equal(theirs.first_name, 'Someone');
  t.equal(sim.requestCount(`/v1/patients/${id}`), 2);
  t.ok(sim.requests().some((r) => r.host.startsWith('api.uk2.')));
});

t.test('a coalesced caller that gives up does not cancel the others', async (t) => {
  const { sim, demo, client } = await setup(t);
  const id = demo.patientIds.example;
  sim.setFault({ latencyMs: 300 }, { patientId: id });
  const impatient = client.getPatient(demo.apiKey, id, { deadlineMs: 50 });
  const patient = client.getPatient(demo.apiKey, id, { deadlineMs: 5_000 });
  t.equal((await failure(t, impatient)).kind, 'timeout');
  t.equal((await patient).id, id);
  t.equal(sim.requestCount(`/v1/patients/${id}`), 1);
});
