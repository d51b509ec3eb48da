import t from 'tap';
import { PRODUCTION_ENV, assertConfigRefuses } from '../helpers/app.ts';
import { ConfigError, loadConfig } from '../../src/config.ts';

t.test('development defaults', async (t) => {
  const config = loadConfig({});
  t.equal(config.env, 'development');
  t.equal(config.port, 3000);
  t.same(config.baseDomains, ['localhost']);
  t.equal(config.databaseUrl, null, 'embedded PostgreSQL when DATABASE_URL is unset');
  t.equal(config.publicScheme, 'http');
  t.equal(config.publicPort, 3000);
  t.equal(config.cliniko.simulator, true);
  t.equal(config.demo, true);
  t.equal(config.listenHost, '127.0.0.1');
  t.equal(config.shutdownGraceMs, 25_000, 'SIGTERM: 25 s for requests in flight, inside a 30 s orchestrator grace period');
  t.ok(Object.isFrozen(config));
});

t.test('production requires its secrets and forbids development features', async (t) => {
  const good = { ...PRODUCTION_ENV, BASE_DOMAIN: 'sidechart.app' };
  const config = loadConfig(good);
  t.equal(config.publicScheme, 'https');
  t.equal(config.publicPort, null);
  t.equal(config.cliniko.simulator, false);
  t.equal(config.demo, false);
  const missing: [string, RegExp][] = [
    ['DATABASE_URL', /DATABASE_URL: is required in production/],
    ['SESSION_SECRET', /SESSION_SECRET: is required/],
    ['SIDECHART_ENCRYPTION_KEYS', /SIDECHART_ENCRYPTION_KEYS: is required/],
    ['CLINIKO_CONTACT_EMAIL', /CLINIKO_CONTACT_EMAIL: is required/],
    ['REGION', /REGION: is required in production/],
  ];
  for (const [name, message] of missing) {
    const env: Record<string, string> = { ...good };
    delete env[name];
    t.throws(() => loadConfig(env), message, `${name} missing`);
  }
  t.throws(() => loadConfig({ ...good, REGION: 'all' }), /REGION: cannot be "all" in production/, 'each production instance serves one region');
  t.throws(() => loadConfig({ ...good, REGION: 'mars' }), /REGION: "mars" is not a configured region/);
  t.throws(() => loadConfig({ ...good, REGION_FORWARD_URLS: 'eu=http://eu.internal' }), /REGION_FORWARD_URLS: the address for "eu" must be https/);
  t.throws(() => loadConfig({ ...good, REGION_FORWARD_URLS: 'local=https://x.internal' }), /REGION_FORWARD_URLS: names this instance's own region/);
  t.same([...loadConfig({ ...good, REGION_FORWARD_URLS: 'eu=https://ingress.eu.internal:8443, au=https://ingress.au.internal' }).regionForwardUrls], [['eu', 'https://ingress.eu.internal:8443'], ['au', 'https://ingress.au.internal']]);
  t.throws(() => loadConfig({ ...good, CLINIKO_SIMULATOR: 'true' }), /CLINIKO_SIMULATOR: cannot be on in production/);
  t.throws(() => loadConfig({ ...good, PUBLIC_SCHEME: 'http' }), /PUBLIC_SCHEME: must be https/);
  t.throws(() => loadConfig({ ...good, CLINIKO_API_BASE: 'http://api.{shard}.cliniko.com/v1' }), /CLINIKO_API_BASE: must be https/);
});

t.test('invalid values name the variable', async (t) => {
  const cases: [Record<string, string>, string][] = [
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '0' }, 'PORT'],
    [{ PORT: '3000.5' }, 'PORT'],
    [{ BASE_DOMAIN: 'http://x.com' }, 'BASE_DOMAIN'],
    [{ BASE_DOMAIN: '127.0.0.1' }, 'BASE_DOMAIN'],
    [{ BASE_DOMAIN: 'a.com,a.com' }, 'BASE_DOMAIN'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL'],
    [{ TRUSTED_PROXIES: 'everyone' }, 'TRUSTED_PROXIES'],
    [{ SESSION_SECRET: 'short' }, 'SESSION_SECRET'],
    [{ SIDECHART_REGIONS: 'eu' }, 'SIDECHART_REGIONS'],
    [{ SIDECHART_REGIONS: 'local=postgres://x/y' }, 'SIDECHART_REGIONS'],
    [{ SIDECHART_REGIONS: 'eu=postgres://a/b,eu=postgres://c/d' }, 'SIDECHART_REGIONS'],
    [{ DEFAULT_REGION: 'mars' }, 'DEFAULT_REGION'],
    [{ REGION: 'mars' }, 'REGION'],
    [{ REGION_FORWARD_URLS: 'eu' }, 'REGION_FORWARD_URLS'],
    [{ REGION_FORWARD_URLS: 'eu=https://x.internal/path' }, 'REGION_FORWARD_URLS'],
    [{ REGION_FORWARD_URLS: 'eu=https://user:pw@x.internal' }, 'REGION_FORWARD_URLS'],
    [{ SIDECHART_REGIONS_FILE: '/nonexistent/regions' }, 'SIDECHART_REGIONS_FILE'],
    [{ SIDECHART_REGIONS: 'eu=postgres://a/b extra=1' }, 'SIDECHART_REGIONS'],
    [{ SIDECHART_REGIONS: 'eu=postgres://a/b listen=mysql://c/d' }, 'SIDECHART_REGIONS'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ CLINIKO_SIMULATOR: 'maybe' }, 'CLINIKO_SIMULATOR'],
    [{ CLINIKO_CONTACT_EMAIL: 'nobody' }, 'CLINIKO_CONTACT_EMAIL'],
    [{ CLINIKO_API_BASE: 'https://api.cliniko.com/v1' }, 'CLINIKO_API_BASE'],
    [{ DB_POOL_MAX: '0' }, 'DB_POOL_MAX'],
    [{ SHUTDOWN_GRACE_MS: '50' }, 'SHUTDOWN_GRACE_MS'],
    [{ SHUTDOWN_GRACE_MS: '30s' }, 'SHUTDOWN_GRACE_MS'],
  ];
  for (const [env, variable] of cases) {
    assertConfigRefuses(t, env, variable);
  }
});

t.test('lists and regions parse', async (t) => {
  const config = loadConfig({
    BASE_DOMAIN: 'Sidechart.app, staging.sidechart.app.',
    TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1',
    SIDECHART_REGIONS: 'au=postgres://a@au-bouncer/sidechart listen=postgres://a@au-db/sidechart,eu=postgres://a@eu-db/sidechart',
    DEFAULT_REGION: 'au',
  });
  t.same(config.baseDomains, ['sidechart.app', 'staging.sidechart.app']);
  t.same(config.trustedProxies, ['10.0.0.0/8', '127.0.0.1']);
  t.same(config.regions, [
    { id: 'au', databaseUrl: 'postgres://a@au-bouncer/sidechart', listenUrl: 'postgres://a@au-db/sidechart' },
    { id: 'eu', databaseUrl: 'postgres://a@eu-db/sidechart' },
  ], 'a region may name a direct URL for LISTEN after its (pooled) URL');
  t.equal(config.defaultRegion, 'au');
});
