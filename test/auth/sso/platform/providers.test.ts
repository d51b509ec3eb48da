// PLATFORM_OIDC_PROVIDERS and friends are validated at boot with one line naming the variable; a
// provider that does not answer is discovered again with bounded exponential backoff, in the
// background and on demand, one discovery at a time (fake discovery, clock and timers: no waiting).
import t from 'tap';
import type { Configuration } from 'openid-client';
import { loadConfig, type PlatformProviderConfig } from '../../../../src/config.ts';
import { createPlatformProviders, retryDelayMs } from '../../../../src/auth/sso/platform/providers.ts';

const provider = { id: 'google', name: 'Google', issuer: 'https://accounts.google.com', clientId: 'cid', clientSecret: 'very-secret' };
const env = (providers: unknown, extra: Record<string, string> = {}) => ({ PLATFORM_OIDC_PROVIDERS: typeof providers === 'string' ? providers : JSON.stringify(providers), ...extra });

t.test('valid providers and defaults', async (t) => {
  const config = loadConfig(env([provider, { ...provider, id: 'ms', name: 'Microsoft', issuer: 'https://login.microsoftonline.com/tid/v2.0' }]));
  t.same(config.platformProviders.map((p) => p.id), ['google', 'ms']);
  t.same(loadConfig({}).platformProviders, []);
  t.equal(loadConfig({}).oidc.allowHttpIssuers, true, 'http issuers in development');
  t.equal(loadConfig({}).oidc.discoveryTtlMs, 3_600_000);
  t.equal(loadConfig({}).oidc.httpTimeoutMs, 10_000);
  t.same(loadConfig({}).oidc.discoveryRetry, { minMs: 5_000, maxMs: 300_000 });
  t.same(loadConfig({ OIDC_DISCOVERY_RETRY_MIN_MS: '1000', OIDC_DISCOVERY_RETRY_MAX_MS: '1000' }).oidc.discoveryRetry, { minMs: 1_000, maxMs: 1_000 });
  t.equal(loadConfig(env([{ ...provider, issuer: 'http://127.0.0.1:4000' }])).platformProviders[0]?.issuer, 'http://127.0.0.1:4000');
});

t.test('invalid values name the variable and never echo the secret', async (t) => {
  const cases: [Record<string, string>, RegExp][] = [
    [env('not json'), /^PLATFORM_OIDC_PROVIDERS: is not valid JSON/],
    [env({ id: 'x' }), /^PLATFORM_OIDC_PROVIDERS: must be a JSON array/],
    [env([null]), /entry 1 is not an object/],
    [env([{ ...provider, clientSecret: '' }]), /entry 1 needs a non-empty "clientSecret"/],
    [env([{ ...provider, id: 'Google!' }]), /id must be lowercase letters/],
    [env([{ ...provider, id: 'complete' }]), /"complete" is reserved/],
    [env([provider, provider]), /provider "google" is listed twice/],
    [env([{ ...provider, issuer: 'accounts.google.com' }]), /provider "google": issuer is not a URL/],
    [env([{ ...provider, issuer: 'https://idp.example/?tenant=x' }]), /must not carry a query/],
    [env([{ ...provider, issuer: 'ftp://idp.example' }]), /must be an http\(s\) URL/],
    [env([{ ...provider, issuer: 'http://idp.example' }], { OIDC_ALLOW_HTTP_ISSUERS: 'false' }), /must be an https:\/\/ URL/],
    [{ OIDC_DISCOVERY_TTL_MS: 'soon' }, /^OIDC_DISCOVERY_TTL_MS: must be a whole number/],
    [{ OIDC_HTTP_TIMEOUT_MS: '5' }, /^OIDC_HTTP_TIMEOUT_MS: must be a whole number from 100/],
    [{ OIDC_ALLOW_HTTP_ISSUERS: 'maybe' }, /^OIDC_ALLOW_HTTP_ISSUERS: must be true or false/],
    [{ OIDC_DISCOVERY_RETRY_MIN_MS: '0' }, /^OIDC_DISCOVERY_RETRY_MIN_MS: must be a whole number from 100/],
    [{ OIDC_DISCOVERY_RETRY_MIN_MS: '60000', OIDC_DISCOVERY_RETRY_MAX_MS: '1000' }, /^OIDC_DISCOVERY_RETRY_MAX_MS: must be at least OIDC_DISCOVERY_RETRY_MIN_MS \(60000\)/],
  ];
  for (const [input, message] of cases) {
    t.throws(() => loadConfig(input), message, JSON.stringify(input).slice(0, 80));
    try {
      loadConfig(input);
    } catch (error) {
      t.notMatch((error as Error).message, /very-secret/, 'secret not in the message');
      t.notMatch((error as Error).message, /\n/, 'one line');
    }
  }
  const production = {
    SIDECHART_ENV: 'production', DATABASE_URL: 'postgres://db/x', SESSION_SECRET: 'x'.repeat(40),
    SIDECHART_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`, CLINIKO_CONTACT_EMAIL: 'ops@sidechart.app', BASE_DOMAIN: 'sidechart.app', REGION: 'local',
  };
  t.equal(loadConfig(production).oidc.allowHttpIssuers, false);
  t.throws(() => loadConfig({ ...production, OIDC_ALLOW_HTTP_ISSUERS: 'true' }), /^OIDC_ALLOW_HTTP_ISSUERS: cannot be on in production/);
  t.throws(() => loadConfig({ ...production, ...env([{ ...provider, issuer: 'http://idp.example' }]) }), /must be an https:\/\/ URL/);
});

t.test('retry delays: doubling from the minimum, capped', async (t) => {
  const policy = { minMs: 1_000, maxMs: 30_000 };
  const cases: [number, number][] = [[0, 0], [1, 1_000], [2, 2_000], [3, 4_000], [5, 16_000], [6, 30_000], [7, 30_000], [1_000, 30_000]];
  for (const [failures, delay] of cases) t.equal(retryDelayMs(failures, policy), delay, `after ${failures} failures`);
});

/** A discovery that fails until told otherwise, timers run by hand, a clock moved by hand. */
function harness() {
  const calls: string[] = [];
  let answering = false;
  let held = false;
  let release: (() => void) | null = null;
  const timers: { delayMs: number; run: () => void; done: boolean }[] = [];
  const clock = { now: 1_000_000 };
  const logged: string[] = [];
  const configuration = { serverMetadata: () => ({ issuer: 'https://idp.example' }) } as unknown as Configuration;
  const providers = createPlatformProviders([{ id: 'acmeid', name: 'AcmeID', issuer: 'https://idp.example', clientId: 'c', clientSecret: 's' }], {
    timeoutMs: 1_000,
    allowHttpIssuers: false,
    retry: { minMs: 1_000, maxMs: 4_000 },
    log: { info: (_o: object, msg: string) => logged.push(`info ${msg}`), warn: (_o: object, msg: string) => logged.push(`warn ${msg}`), error: (_o: object, msg: string) => logged.push(`error ${msg}`) } as never,
    now: () => clock.now,
    schedule: (run, delayMs) => {
      const timer = {
        delayMs,
        run: () => {
          timer.done = true;
          run();
        },
        done: false,
      };
      timers.push(timer);
      return () => {
        timer.done = true;
      };
    },
    discover: async (config: PlatformProviderConfig) => {
      calls.push(config.id);
      // A discovery held open until released, to see concurrent callers join it.
      if (release === null && held) await new Promise<void>((resolve) => (release = resolve));
      if (!answering) throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
      return configuration;
    },
  });
  return {
    providers, calls, timers, clock, logged, configuration,
    answer: (value: boolean) => void (answering = value),
    hold: () => void (held = true),
    releaseHeld: () => {
      held = false;
      release?.();
      release = null;
    },
    /** Timers neither run nor cancelled. */
    pending: () => timers.filter((x) => !x.done),
  };
}

t.test('a provider down at boot: background retries back off to the cap, then it comes back', async (t) => {
  const h = harness();
  await h.providers.start();
  const [acme] = h.providers.list();
  t.equal(acme?.available, false, 'unavailable after a failed boot discovery');
  t.equal(acme?.issuer, null);
  t.same(h.pending().map((x) => x.delayMs), [1_000], 'a retry is scheduled after the minimum wait');
  t.same(h.logged, ['error platform provider unavailable: discovery failed']);

  // The timer fires (its wait is over): fails again, each wait twice the last, never past the cap.
  for (const expected of [2_000, 4_000, 4_000]) {
    const timer = h.pending().at(-1)!;
    h.clock.now += timer.delayMs;
    timer.run();
    await h.providers.start(); // joins the discovery under way, if any
    t.equal(h.pending().at(-1)?.delayMs, expected, `next wait ${expected} ms`);
    t.equal(h.pending().length, 1, 'one retry scheduled at a time');
  }
  t.equal(h.calls.length, 4);

  h.answer(true);
  const timer = h.pending().at(-1)!;
  timer.run();
  t.equal(await h.providers.configurationFor('acmeid'), h.configuration, 'available once discovery succeeds');
  t.equal(acme?.available, true);
  t.equal(acme?.issuer, 'https://idp.example');
  t.same(h.pending(), [], 'no retry scheduled any more');
  t.equal(h.logged.at(-1), 'info platform provider available again: discovery succeeded');
  await h.providers.configurationFor('acmeid');
  t.equal(h.calls.length, 5, 'an available provider is not discovered again');
});

t.test('on demand: a sign-in retries at once when the wait is over, never before', async (t) => {
  const h = harness();
  await h.providers.start();
  t.equal(h.calls.length, 1);

  h.answer(true); // the provider is back, but nobody has asked yet
  h.clock.now += 999;
  await t.rejects(h.providers.configurationFor('acmeid'), { code: 'idp_unavailable', statusCode: 503, headers: { 'retry-after': '30' } }, 'within the wait: the 503 page');
  t.equal(h.calls.length, 1, 'without asking the provider');

  h.clock.now += 1;
  h.hold();
  const both = Promise.all([h.providers.configurationFor('acmeid'), h.providers.configurationFor('acmeid')]);
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(h.calls.length, 2, 'two sign-ins at once: one discovery');
  h.releaseHeld();
  const [a, b] = await both;
  t.equal(a, h.configuration);
  t.equal(b, h.configuration);
  t.same(h.pending(), [], 'the background retry was cancelled');
});

t.test('an unknown provider, and stop()', async (t) => {
  const h = harness();
  await t.rejects(h.providers.configurationFor('nope'), { code: 'sso_not_enabled' });
  await h.providers.start();
  t.equal(h.pending().length, 1);
  h.providers.stop();
  t.same(h.pending(), [], 'stop cancels the scheduled retry');
  h.clock.now += 1_000;
  await t.rejects(h.providers.configurationFor('acmeid'), { code: 'idp_unavailable' });
  t.same(h.pending(), [], 'and nothing is scheduled after it');
});
