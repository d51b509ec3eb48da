// A clinic's SSO settings through the CLI (the same code the admin pages use): validated, the
// client secret read from stdin, sealed for this clinic only, never printed.
import t from 'tap';
import { buildTestApp, cli } from '../../helpers/app.ts';
import { createSecretBox, generateKeySpec, parseKeyring } from '../../../src/infra/crypto.ts';
import { clientSecretAad, checkSsoSettingsChange } from '../../../src/auth/sso/settings.ts';
import { loadConfig } from '../../../src/config.ts';
import { tenantDb } from '../../helpers/fixtures.ts';

t.test('sidechart sso configure / show', async (t) => {
  const keys = generateKeySpec('k1');
  const { runtime, env, app } = await buildTestApp(t, {
    env: {
      SIDECHART_ENCRYPTION_KEYS: keys,
      SESSION_SECRET: 's'.repeat(40),
      PLATFORM_OIDC_PROVIDERS: JSON.stringify([{ id: 'acmeid', name: 'AcmeID', issuer: 'http://127.0.0.1:9', clientId: 'c', clientSecret: 's' }]),
    },
  });
  await runtime.tenants.create({ slug: 'alpha' });
  await runtime.tenants.create({ slug: 'beta' });

  const set = await cli(env, ['sso', 'configure', 'alpha', '--issuer', 'https://login.alpha.example', '--client-id', 'sidechart', '--client-secret-stdin', '--admit', 'domain', '--allowed-domains', 'Alpha.Example, @alpha-health.example', '--platform-providers', 'acmeid', '--json'], { stdin: 'top-secret\n' });
  t.equal(set.code, 0, set.err);
  t.match(JSON.parse(set.out), {
    tenant: 'alpha',
    oidc: { issuer: 'https://login.alpha.example', clientId: 'sidechart', clientSecret: 'sealed', redirectUri: 'http://alpha.localhost:3000/login/oidc/callback' },
    admit: 'domain',
    allowedEmailDomains: ['alpha.example', 'alpha-health.example'],
    platformProviders: ['acmeid'],
  });
  const show = await cli(env, ['sso', 'show', 'alpha']);
  t.equal(show.code, 0);
  t.match(show.out, /login\.alpha\.example \(client sidechart, secret sealed\)/);
  t.notMatch(show.out + set.out, /top-secret/, 'the secret is never printed');

  const dbAlpha = await tenantDb(runtime, 'alpha');
  const { oidc_client_secret_sealed: sealed } = await dbAlpha.selectFrom('auth_settings').select('oidc_client_secret_sealed').executeTakeFirstOrThrow();
  const box = createSecretBox(parseKeyring(keys));
  const alpha = await runtime.tenants.find('alpha');
  const beta = await runtime.tenants.find('beta');
  t.equal(box.open(sealed!, clientSecretAad(alpha.schemaName)), 'top-secret', 'sealed, trailing newline from stdin dropped');
  t.throws(() => box.open(sealed!, clientSecretAad(beta.schemaName)), { code: 'secret_unauthenticated' }, 'bound to its clinic');

  // Copied to another clinic's row, it does not open there: sign-in shows a setup problem, not a 500.
  const dbBeta = await tenantDb(runtime, 'beta');
  await dbBeta.updateTable('auth_settings').set({ oidc_issuer: 'https://login.alpha.example', oidc_client_id: 'sidechart', oidc_client_secret_sealed: sealed }).execute();
  const copied = await app.inject({ method: 'GET', url: '/login/oidc', headers: { host: 'beta.localhost', accept: 'application/json' } });
  t.equal(copied.statusCode, 502);
  t.equal(copied.json().error, 'idp_misconfigured');

  // How the command was called: usage errors, exit 2.
  const usage: [string[], string | undefined, RegExp][] = [
    [['sso', 'configure', 'alpha', '--issuer', 'https://x.example', '--client-id', 'c'], undefined, /needs --issuer, --client-id and --client-secret-stdin together/],
    [['sso', 'configure', 'alpha', '--issuer', 'https://x.example', '--client-id', 'c', '--client-secret-stdin'], '', /no client secret on standard input/],
    [['sso', 'configure', 'alpha', '--remove-oidc', '--client-id', 'x'], undefined, /cannot be combined/],
    [['sso', 'configure', 'alpha'], undefined, /nothing to change/],
  ];
  for (const [args, stdin, message] of usage) {
    const run = await cli(env, args, stdin === undefined ? {} : { stdin });
    t.equal(run.code, 2, args.join(' '));
    t.match(run.err, message);
  }
  // What was asked for cannot be done: failures, exit 1.
  const refused: [string[], string | undefined, RegExp][] = [
    [['sso', 'configure', 'alpha', '--issuer', 'x.example', '--client-id', 'c', '--client-secret-stdin'], 's', /The issuer is not a URL/],
    [['sso', 'configure', 'alpha', '--issuer', 'https://x.example?a=1', '--client-id', 'c', '--client-secret-stdin'], 's', /must not carry a query/],
    [['sso', 'configure', 'alpha', '--admit', 'everyone'], undefined, /Admit must be "invited" or "domain"/],
    [['sso', 'configure', 'alpha', '--allowed-domains', 'not a domain'], undefined, /is not an e-mail domain/],
    [['sso', 'configure', 'alpha', '--platform-providers', 'google'], undefined, /"google" is not a platform provider of this Sidechart \(known: acmeid\)/],
    [['sso', 'configure', 'nobody', '--admit', 'domain'], undefined, /nobody/],
  ];
  for (const [args, stdin, message] of refused) {
    const run = await cli(env, args, stdin === undefined ? {} : { stdin });
    t.equal(run.code, 1, args.join(' '));
    t.match(run.err, message);
  }
  const unchanged = JSON.parse((await cli(env, ['sso', 'show', 'alpha', '--json'])).out);
  t.equal(unchanged.admit, 'domain', 'refused changes changed nothing');

  const removed = await cli(env, ['sso', 'configure', 'alpha', '--remove-oidc', '--allowed-domains', '', '--json']);
  t.equal(removed.code, 0, removed.err);
  t.match(JSON.parse(removed.out), { oidc: null, allowedEmailDomains: [] });

  const providers = await cli(env, ['sso', 'providers']);
  t.match(providers.out, /acmeid  AcmeID  http:\/\/127\.0\.0\.1:9\n  redirect URI: http:\/\/auth\.localhost:3000\/sso\/acmeid\/callback/);
});

t.test('http issuers are refused for clinics when the configuration does not allow them', async (t) => {
  const config = loadConfig({ OIDC_ALLOW_HTTP_ISSUERS: 'false' });
  t.throws(() => checkSsoSettingsChange({ clinicOidc: { issuer: 'http://idp.example', clientId: 'c', clientSecret: 's' } }, config), /must be an https:\/\/ URL/);
  t.same(checkSsoSettingsChange({ clinicOidc: { issuer: ' https://idp.example ', clientId: ' c ', clientSecret: 's' } }, config).clinicOidc, { issuer: 'https://idp.example', clientId: 'c', clientSecret: 's' });
});

t.test('sidechart sso rekey: clinics\' own client secrets re-sealed under the new primary key', async (t) => {
  const oldKey = generateKeySpec('k1');
  const { runtime, env } = await buildTestApp(t, { env: { SIDECHART_ENCRYPTION_KEYS: oldKey, SESSION_SECRET: 's'.repeat(40) } });
  await runtime.tenants.create({ slug: 'alpha' });
  await runtime.tenants.create({ slug: 'plain' });
  const set = await cli(env, ['sso', 'configure', 'alpha', '--issuer', 'https://login.alpha.example', '--client-id', 'sidechart', '--client-secret-stdin'], { stdin: 'top-secret' });
  t.equal(set.code, 0, set.err);
  const db = await tenantDb(runtime, 'alpha');
  const sealed = async () => (await db.selectFrom('auth_settings').select('oidc_client_secret_sealed').executeTakeFirstOrThrow()).oidc_client_secret_sealed!;
  t.match(await sealed(), /^v1\.k1\./);

  // A new key first in the ring, the old one kept after it.
  const newKey = generateKeySpec('k2');
  const rotated = { ...env, SIDECHART_ENCRYPTION_KEYS: `${newKey},${oldKey}` };
  const rekey = await cli(rotated, ['sso', 'rekey', '--all']);
  t.equal(rekey.code, 0, rekey.err);
  t.match(rekey.out, /alpha: re-sealed under the primary key/);
  t.match(rekey.out, /plain: no client secret stored/);
  t.notMatch(rekey.out + rekey.err, /top-secret/, 'never printed');
  t.match(await sealed(), /^v1\.k2\./);
  const alpha = await runtime.clinics.open('alpha', { for: 'operator' });
  t.equal(createSecretBox(parseKeyring(newKey)).open(await sealed(), clientSecretAad(alpha.schemaName)), 'top-secret', 'opens with the new key alone');
  t.match((await cli(rotated, ['sso', 'rekey', 'alpha'])).out, /alpha: already current/);
  t.equal((await cli(rotated, ['sso', 'rekey'])).code, 2, 'a clinic or --all is needed (usage)');
});
