import t from 'tap';
import { backoffDelayMs } from '../../src/cliniko/client/backoff.ts';
import { ClinikoError } from '../../src/cliniko/client/errors.ts';
import { parseClinikoJson } from '../../src/cliniko/client/json.ts';
import { nextRequestSlot, rateLimitWaitMs } from '../../src/cliniko/client/limiter.ts';

t.test('backoffDelayMs: exponential, capped, half fixed and half jitter', async (t) => {
  const options = { baseDelayMs: 100, maxDelayMs: 1000 };
  // [retry, random, expected]
  const cases: [number, number, number][] = [
    [1, 0, 50],
    [1, 0.5, 75],
    [1, 0.999, 100],
    [2, 0, 100],
    [2, 0.999, 200],
    [3, 0, 200],
    [4, 0.5, 600],
    [5, 0, 500], // 1600 capped at 1000
    [5, 0.999, 1000],
    [30, 0.5, 750],
    [0, 0, 50], // treated as the first retry
  ];
  for (const [retry, random, expected] of cases) {
    t.equal(backoffDelayMs(retry, options, random), expected, `retry ${retry}, random ${random}`);
  }
});

t.test('rateLimitWaitMs: X-RateLimit-Reset (UNIX seconds), then Retry-After', async (t) => {
  const now = 1_800_000_000_000; // ms
  // [headers, expected]
  const cases: [{ reset?: string; retryAfter?: string }, number | undefined][] = [
    [{ reset: '1800000005' }, 5000],
    [{ reset: ' 1800000005 ' }, 5000],
    [{ reset: '1800000000' }, 0],
    [{ reset: '1799999000' }, 0], // in the past: the window has already reset
    [{ reset: '1800000000.5' }, 500],
    [{ reset: '1800000005', retryAfter: '60' }, 5000], // the documented header wins
    [{ reset: 'soon', retryAfter: '7' }, 7000],
    [{ reset: '-5' }, undefined],
    [{ reset: '' }, undefined],
    [{ retryAfter: '0' }, 0],
    [{ retryAfter: 'Fri, 15 Jan 2027 08:00:10 GMT' }, Date.parse('Fri, 15 Jan 2027 08:00:10 GMT') - now],
    [{ retryAfter: 'later' }, undefined],
    [{}, undefined],
  ];
  for (const [headers, expected] of cases) t.equal(rateLimitWaitMs(headers, now), expected, JSON.stringify(headers));
});

t.test('nextRequestSlot: sliding window per key', async (t) => {
  const base = { limit: 3, windowMs: 1000, pausedUntil: 0 };
  // [starts, now, pausedUntil, expected]
  const cases: [number[], number, number, number][] = [
    [[], 5000, 0, 5000],
    [[4500, 4600], 5000, 0, 5000], // under the limit
    [[4500, 4600, 4700], 5000, 0, 5500], // full: when the oldest leaves the window
    [[4500, 4600, 4700, 5500], 5000, 0, 5600], // queued behind an earlier reservation
    [[4500, 4600, 4700, 5500, 5600], 5000, 0, 5700],
    [[], 5000, 8000, 8000], // paused after a 429
    [[4500, 4600, 4700], 5000, 5200, 5500],
    [[4500, 4600, 4700], 5000, 9000, 9000],
  ];
  for (const [starts, now, pausedUntil, expected] of cases) {
    t.equal(nextRequestSlot({ ...base, starts, now, pausedUntil }), expected, `${JSON.stringify(starts)} at ${now}, paused ${pausedUntil}`);
  }

  // Granting slots in call order never puts more than `limit` starts in any window.
  const starts: number[] = [];
  for (let i = 0; i < 50; i++) starts.push(nextRequestSlot({ ...base, starts, now: 0 }));
  for (const s of starts) t.ok(starts.filter((x) => x >= s && x < s + base.windowMs).length <= base.limit);
});

t.test('parseClinikoJson keeps IDs exact', async (t) => {
  const cases: [string, unknown][] = [
    ['{"id":"836447129235883061"}', { id: '836447129235883061' }],
    ['{"id":"9223372036854775807"}', { id: '9223372036854775807' }],
    // Old shards and old docs send numbers: they become strings, exactly.
    ['{"id":1}', { id: '1' }],
    ['{"id":9223372036854775807}', { id: '9223372036854775807' }],
    ['{"patient_id":836447129235883061,"total_entries":3}', { patient_id: '836447129235883061', total_entries: 3 }],
    ['{"patients":[{"id":836447129235883061}]}', { patients: [{ id: '836447129235883061' }] }],
    // Any integer a double cannot hold stays text rather than silently changing.
    ['{"other":12345678901234567890}', { other: '12345678901234567890' }],
    ['{"price":12.5,"count":3,"flag":true,"none":null}', { price: 12.5, count: 3, flag: true, none: null }],
  ];
  for (const [text, expected] of cases) t.same(parseClinikoJson(text), expected, text);
  t.throws(() => parseClinikoJson('<html>'), { name: 'SyntaxError' }, 'not JSON: a SyntaxError');
});

t.test('ClinikoError serialises only what we chose', async (t) => {
  const error = new ClinikoError('unauthorized', undefined, { upstreamStatus: 401 });
  t.equal(error.message, 'Cliniko refused the API key: the key is wrong, revoked, or belongs to another shard.');
  t.same(JSON.parse(JSON.stringify(error)), { name: 'ClinikoError', kind: 'unauthorized', message: error.message, upstreamStatus: 401 });
});
