// The simulator's own contract (what the reference says Cliniko does), driven with inject.
import t, { type Test } from 'tap';
import { parseFilters } from '../../src/cliniko/simulator/filters.ts';
import { createClinikoSimulator, DEMO_PATIENT_IDS, seedDemo, type SimulatorOptions } from '../../src/cliniko/simulator/index.ts';
import type { ClinikoPatient } from '../../src/cliniko/types.ts';

const UA = 'Sidechart (tests@sidechart.example)';

async function setup(t: Test, options: SimulatorOptions = {}) {
  const sim = createClinikoSimulator(options);
  const demo = seedDemo(sim);
  t.teardown(() => sim.close());
  const get = (url: string, opts: { key?: string; host?: string; ua?: string | null } = {}) =>
    sim.inject({
      method: 'GET',
      url,
      headers: {
        host: opts.host ?? 'api.au1.cliniko.localhost:4001',
        authorization: `Basic ${Buffer.from(`${opts.key ?? demo.apiKey}:`).toString('base64')}`,
        ...(opts.ua === null ? {} : { 'user-agent': opts.ua ?? UA }),
      },
    });
  return { sim, demo, get };
}

t.test('shard from the host, Basic auth with shard-suffixed keys, generic 401', async (t) => {
  const { get } = await setup(t);
  const ok = await get('/v1/user');
  t.equal(ok.statusCode, 200);
  t.equal(ok.json().id, '836447129235810001');
  t.equal(ok.json().links.self, 'http://api.au1.cliniko.localhost:4001/v1/users/836447129235810001');

  const wrongShard = await get('/v1/user', { host: 'api.au2.cliniko.localhost:4001' });
  const wrongKey = await get('/v1/user', { key: 'nope-au1' });
  const noAuth = await get('/v1/user', { key: '' });
  for (const response of [wrongShard, wrongKey, noAuth]) {
    t.equal(response.statusCode, 401);
    t.equal(response.body, wrongKey.body, 'the same generic answer');
    t.equal(response.headers['www-authenticate'], 'Basic realm="Application"');
  }
  t.equal((await get('/v1/user', { host: 'api.cliniko.localhost:4001' })).statusCode, 404, 'no shard in the host');
  t.equal((await get('/v1/user', { host: 'cliniko.localhost:4001' })).statusCode, 404, 'not an API host');
});

t.test('User-Agent without a contact: 403 unless the check is off', async (t) => {
  const { sim, get } = await setup(t);
  t.equal((await get('/v1/user', { ua: null })).statusCode, 403);
  t.equal((await get('/v1/user', { ua: 'curl/8.0' })).statusCode, 403);
  sim.settings.requireUserAgent = false;
  t.equal((await get('/v1/user', { ua: null })).statusCode, 200);
});

t.test('settings name the account', async (t) => {
  const { get } = await setup(t);
  const body = (await get('/v1/settings')).json();
  t.match(body.account, { id: '836447129235800001', subdomain: 'fitzroy-physio', name: 'Fitzroy Physio & Pilates' });
});

t.test('patients by id: string IDs, archived and merged', async (t) => {
  const { sim, get } = await setup(t);
  const max = await get(`/v1/patients/${DEMO_PATIENT_IDS.tricky}`);
  t.equal(max.statusCode, 200);
  t.ok(max.body.includes('"id":"9223372036854775807"'), 'the ID is a JSON string');

  t.equal((await get('/v1/patients/836447129235899999')).statusCode, 404);
  t.equal((await get('/v1/patients/abc')).statusCode, 404);

  const archivedUrl = `/v1/patients/${DEMO_PATIENT_IDS.archived}`;
  t.equal((await get(archivedUrl)).statusCode, 404, "archivedById '404' hides it");
  t.equal((await get(`${archivedUrl}?q[]=archived_at:*`)).statusCode, 200, 'unless the archived filter is used');
  sim.settings.archivedById = 'ok';
  t.equal((await get(archivedUrl)).json().archived_at, '2023-08-01T06:12:00Z', "archivedById 'ok' shows it");

  const merged = (await get(`/v1/patients/${DEMO_PATIENT_IDS.merged}`)).json();
  t.ok(merged.merged_at);
  t.equal(merged.merged_with_patient.links.self, `http://api.au1.cliniko.localhost:4001/v1/patients/${DEMO_PATIENT_IDS.survivor}`);
});

t.test('the list: pagination, per_page at most 100, links.next, q[] filters', async (t) => {
  const { sim, demo, get } = await setup(t);
  for (let i = 0; i < 120; i++) sim.addPatient(demo.apiKey, { id: String(900000000000000000n + BigInt(i)), first_name: `Bulk${i}`, updated_at: '2020-01-01T00:00:00Z' });
  // The demo has 5 patients, one archived: 124 visible.
  const first = (await get('/v1/patients')).json();
  t.equal(first.patients.length, 50, 'default per_page 50');
  t.equal(first.total_entries, 124);

  const big = (await get('/v1/patients?per_page=500')).json();
  t.equal(big.patients.length, 100, 'per_page capped at 100');
  const next = new URL(big.links.next);
  t.equal(next.searchParams.get('page'), '2');
  const last = (await get(`${next.pathname}${next.search}`)).json();
  t.equal(last.patients.length, 24);
  t.notOk(last.links.next, 'no next on the last page');
  const ids = [...big.patients, ...last.patients].map((p: { id: string }) => p.id);
  t.equal(new Set(ids).size, 124, 'pages do not overlap');
  t.same(ids.slice(0, 3), ['836447129235883061', '836447129235883080', '836447129235883081'], 'ordered by numeric id');

  const byId = (await get(`/v1/patients?q[]=id:=${DEMO_PATIENT_IDS.archived}`)).json();
  t.equal(byId.total_entries, 0, 'archived left out without the archived filter');
  const withArchived = (await get(`/v1/patients?q[]=id:=${DEMO_PATIENT_IDS.archived}&q[]=archived_at:*`)).json();
  t.same(withArchived.patients.map((p: { id: string }) => p.id), [DEMO_PATIENT_IDS.archived]);
  const encoded = (await get(`/v1/patients?q%5B%5D=id%3A%3D${DEMO_PATIENT_IDS.archived}&q%5B%5D=archived_at%3A*`)).json();
  t.equal(encoded.total_entries, 1, 'encoded brackets work too');

  const recent = (await get('/v1/patients?per_page=100&q[]=updated_at:>2024-06-01T00:00:00Z')).json();
  t.same(recent.patients.map((p: { id: string }) => p.id).sort(), [DEMO_PATIENT_IDS.example, DEMO_PATIENT_IDS.merged, DEMO_PATIENT_IDS.survivor, DEMO_PATIENT_IDS.tricky].sort());

  t.equal((await get('/v1/patients?q[]=bogus:=1')).statusCode, 400);
  t.equal((await get('/v1/patients?q[]=id:=abc')).statusCode, 400);
  t.equal((await get('/v1/patients?page=0')).statusCode, 400);
});

t.test('parseFilters: q[] filters Cliniko documents, nothing else', async (t) => {
  const patient = { id: '836447129235883061', first_name: 'Aroha', last_name: "Ngata-O'Brien", updated_at: '2026-11-20T04:31:09Z', archived_at: null } as ClinikoPatient;
  // [q[] values, whether they parse, whether the patient matches them all]
  const cases: [string[], boolean, boolean][] = [
    [[], true, true],
    [['id:=836447129235883061'], true, true],
    [['id:>836447129235883060', 'id:<9223372036854775807'], true, true], // 64-bit IDs compared exactly
    [['id:=836447129235883062'], true, false],
    [['first_name:=aroha'], true, true], // text is case-insensitive
    [['last_name:~ngata'], true, true],
    [['last_name:~~ngata%brien'], true, true],
    [['last_name:~~ngata'], true, false], // ~~ matches the whole value
    [['updated_at:>2026-01-01T00:00:00Z'], true, true],
    [['archived_at:?'], true, true],
    [['archived_at:*'], true, true],
    [['id:~1'], false, false],
    [['id:=abc'], false, false],
    [['updated_at:>soon'], false, false],
    [['notes:=x'], false, false], // not a filterable field
    [['first_name=aroha'], false, false],
  ];
  for (const [values, parses, matches] of cases) {
    const filters = parseFilters({ 'q[]': values });
    t.equal(filters !== undefined, parses, `${JSON.stringify(values)} parses`);
    t.equal(filters?.every((f) => f.test(patient)) ?? false, matches, `${JSON.stringify(values)} matches`);
  }
});

t.test('429 with X-RateLimit-Reset past the per-key limit', async (t) => {
  const { sim, get } = await setup(t, { rateLimit: { limit: 3, windowMs: 60_000 } });
  const statuses = [];
  for (let i = 0; i < 5; i++) statuses.push((await get('/v1/user')).statusCode);
  t.same(statuses, [200, 200, 200, 429, 429]);
  const limited = await get('/v1/user');
  const reset = Number(limited.headers['x-ratelimit-reset']);
  t.ok(Number.isInteger(reset) && reset * 1000 >= Date.now() && reset * 1000 <= Date.now() + 61_000, 'UNIX seconds within the window');
  t.same(sim.stats(), { rateLimited: 3, maxServedInWindow: 3 });
  t.equal(sim.requestCount({ status: 429 }), 3);
  t.equal(sim.requestCount('/v1/user'), 6);
});

t.test('faults: scoped to a patient, counted down with times', async (t) => {
  const { sim, get } = await setup(t);
  sim.setFault({ status: 502, times: 1 }, { patientId: DEMO_PATIENT_IDS.example });
  t.equal((await get(`/v1/patients/${DEMO_PATIENT_IDS.example}`)).statusCode, 502);
  t.equal((await get(`/v1/patients/${DEMO_PATIENT_IDS.example}`)).statusCode, 200, 'gone after one');
  sim.faults.global = { status: 500 };
  t.equal((await get('/v1/settings')).statusCode, 500, 'the mutable faults object works too');
  sim.clearFaults();
  t.equal((await get('/v1/settings')).statusCode, 200);
});

t.test('a 429 storm: every request refused, each announcing the same reset, by the headers asked for', async (t) => {
  const { sim, get } = await setup(t);
  sim.setFault({ status: 429, resetInSeconds: 30 });
  const answers = [await get('/v1/user'), await get(`/v1/patients/${DEMO_PATIENT_IDS.example}`), await get('/v1/settings')];
  t.same(answers.map((a) => a.statusCode), [429, 429, 429], 'until cleared');
  const resets = new Set(answers.map((a) => a.headers['x-ratelimit-reset']));
  t.equal(resets.size, 1, 'one reset for the whole storm');
  const reset = Number([...resets][0]);
  t.ok(Number.isInteger(reset) && reset * 1000 > Date.now() && reset * 1000 <= Date.now() + 31_000, 'UNIX seconds, about 30 s ahead');
  t.notOk('retry-after' in answers[0]!.headers, 'Retry-After is not documented by Cliniko: not sent by default');

  sim.setFault({ status: 429, resetInSeconds: 5, rateLimitHeaders: 'retry_after' });
  const retryAfter = await get('/v1/user');
  t.notOk('x-ratelimit-reset' in retryAfter.headers);
  t.ok(['4', '5'].includes(String(retryAfter.headers['retry-after'])), 'Retry-After in seconds');
  sim.setFault({ status: 429, rateLimitHeaders: 'both' });
  const both = await get('/v1/user');
  t.ok(both.headers['x-ratelimit-reset'] !== undefined && both.headers['retry-after'] !== undefined);
  sim.setFault({ status: 429, rateLimitHeaders: 'none' });
  const none = await get('/v1/user');
  t.equal(none.statusCode, 429);
  t.ok(none.headers['x-ratelimit-reset'] === undefined && none.headers['retry-after'] === undefined);
});

t.test('bad bodies: a 200 that is not JSON, or JSON cut in half', async (t) => {
  const { sim, get } = await setup(t);
  const path = `/v1/patients/${DEMO_PATIENT_IDS.example}`;
  sim.setFault({ badBody: 'not_json' });
  const html = await get(path);
  t.equal(html.statusCode, 200);
  t.match(html.headers['content-type'], /^application\/json/, 'labelled JSON');
  t.throws(() => JSON.parse(html.body), SyntaxError);
  t.match(html.body, /^<!DOCTYPE html>/);

  sim.setFault({ badBody: 'truncated_json' });
  const truncated = await get(path);
  t.equal(truncated.statusCode, 200);
  t.equal(Number(truncated.headers['content-length']), Buffer.byteLength(truncated.body), 'complete as an HTTP message');
  t.ok(truncated.body.startsWith(`{"id":"${DEMO_PATIENT_IDS.example}","first_name":`), 'the start of the record asked for');
  t.throws(() => JSON.parse(truncated.body), SyntaxError);
});

t.test('an enormous body: a patient record of the size asked for, produced as it is read', async (t) => {
  const { sim, get } = await setup(t);
  const size = 3 * 64 * 1024 + 123;
  for (const declareLength of [false, true]) {
    sim.resetCounters();
    sim.setFault({ enormousBytes: size, declareLength }, { patientId: DEMO_PATIENT_IDS.example });
    const answer = await get(`/v1/patients/${DEMO_PATIENT_IDS.example}`);
    t.equal(answer.statusCode, 200);
    t.equal(answer.rawPayload.length, size, `${size} bytes`);
    t.equal(answer.headers['content-length'], declareLength ? String(size) : undefined, declareLength ? 'declared' : 'chunked');
    const record = answer.json();
    t.equal(record.id, DEMO_PATIENT_IDS.example);
    t.match(record.notes, /^x+$/);
    t.same(sim.streamedBodies(), { started: 1, completed: 1, bytes: size });
  }
});

t.test('addAccount checks the key belongs to the shard', async (t) => {
  const { sim } = await setup(t);
  // A plain Error with this message, not any error: a throw for another reason must not pass.
  const wrongShard = { constructor: Error, message: 'simulator: the API key does not belong to that shard' };
  t.throws(() => sim.addAccount({ shard: 'uk1', apiKey: 'abc-au1', accountId: '5', subdomain: 'x', user: { id: '6' } }), wrongShard, 'a key of another shard');
  t.throws(() => sim.addAccount({ shard: 'au2', apiKey: 'legacy', accountId: '5', subdomain: 'x', user: { id: '6' } }), wrongShard, 'a key without suffix is au1');
  t.doesNotThrow(() => sim.addAccount({ shard: 'au1', apiKey: 'legacy', accountId: '5', subdomain: 'x', user: { id: '6' } }));
  t.throws(() => sim.addPatient('legacy', { id: '12.5' }), { constructor: Error, message: 'simulator: patient IDs are decimal strings' }, 'a patient ID must be decimal digits');
});

t.test('the imitation patient screen: escaped, with the custom button', async (t) => {
  const { get } = await setup(t, { buttonUrl: 'http://clinic.localhost:3000/patients' });
  const page = await get(`/?patient=${DEMO_PATIENT_IDS.tricky}`, { host: 'cliniko.localhost:4001' });
  t.equal(page.statusCode, 200);
  t.match(page.headers['content-type'], /text\/html/);
  t.match(page.body, /Patient actions/);
  t.match(page.body, 'href="http://clinic.localhost:3000/patients?patient_id=9223372036854775807"');
  t.notMatch(page.body, /<script/i, 'no markup from patient data survives');
  t.notMatch(page.body, /<img|<svg/i);
  t.match(page.body, '&lt;script&gt;alert(&quot;first&quot;)&lt;/script&gt;');
  for (const id of Object.values(DEMO_PATIENT_IDS)) t.match(page.body, `/?patient=${id}`, `lists ${id}`);

  const first = await get('/', { host: 'cliniko.localhost:4001' });
  t.match(first.body, `patient_id=${DEMO_PATIENT_IDS.example}`);
  t.equal((await get('/', { host: 'api.au1.cliniko.localhost:4001' })).statusCode, 404, 'not on API hosts');
});

t.test("the imitation settings: the account's API keys, and the custom button's address set from a form", async (t) => {
  const { sim, demo, get } = await setup(t);
  const host = 'cliniko.localhost:4001';
  const page = await get('/settings', { host });
  t.equal(page.statusCode, 200);
  t.match(page.body, new RegExp(`<code>${demo.apiKey}</code>`), 'My info > Manage API keys shows the key');
  t.match(page.headers['content-security-policy'], /default-src 'none'/, 'no script, as the patient screen');
  const post = (url: string) =>
    sim.inject({ method: 'POST', url: '/settings/integrations', headers: { host, 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ url }).toString() });

  for (const bad of ['', 'not a url', 'javascript:alert(1)', 'ftp://x.example/patients']) {
    const refused = await post(bad);
    t.equal(refused.statusCode, 400, `refused: ${JSON.stringify(bad)}`);
    t.match(refused.body, /Enter a web address starting with https:\/\//);
  }
  t.equal(sim.settings.buttonUrl, 'http://demo.localhost:3000/patients', 'refusals change nothing');

  const saved = await post('https://acme.sidechart.example/patients');
  t.equal(saved.statusCode, 303);
  t.equal(saved.headers.location, '/settings?saved=1');
  t.equal(sim.settings.buttonUrl, 'https://acme.sidechart.example/patients');
  const screen = await get(`/?patient=${DEMO_PATIENT_IDS.example}`, { host });
  t.match(screen.body, new RegExp(`href="https://acme.sidechart.example/patients\\?patient_id=${DEMO_PATIENT_IDS.example}"`), 'the button on the patient screen follows');
  t.equal((await get('/settings', { host: 'api.au1.cliniko.localhost:4001' })).statusCode, 404, 'not on API hosts');
});
