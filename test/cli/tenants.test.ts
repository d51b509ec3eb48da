// The tenant lifecycle through the `sidechart` CLI, as an SRE would run it.
import { spawn } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { sql } from 'kysely';
import { cli, testEnv } from '../helpers/app.ts';
import { latestVersion, tenantMigrations } from '../../src/tenancy/migrations.ts';

t.test('create, list, show, suspend, resume, delete, restore, purge', async (t) => {
  const env = await testEnv(t);

  const created = await cli(env, ['tenants', 'create', 'acme-physio', '--name', 'Acme Physio']);
  t.equal(created.code, 0, created.err);
  t.match(created.out, /created clinic/);
  t.match(created.out, /status: +active/);
  t.match(created.out, /http:\/\/acme-physio\.localhost:3000\/patients/, 'prints the button URL built from configuration');

  const list = await cli(env, ['tenants', 'list', '--json']);
  t.equal(list.code, 0);
  const rows = JSON.parse(list.out) as { slug: string; status: string; schemaName: string; schemaVersion: string }[];
  t.equal(rows.length, 1);
  t.equal(rows[0]!.slug, 'acme-physio');
  t.equal(rows[0]!.status, 'active');
  t.match(rows[0]!.schemaName, /^t_\d+$/);
  t.equal(rows[0]!.schemaVersion, await latestVersion(tenantMigrations()));

  const human = await cli(env, ['tenants', 'list']);
  t.match(human.out, /acme-physio +active +local/);

  const show = await cli(env, ['tenants', 'show', 'acme-physio', '--json']);
  t.equal(JSON.parse(show.out).displayName, 'Acme Physio');

  const suspended = await cli(env, ['tenants', 'suspend', 'acme-physio']);
  t.equal(suspended.code, 0);
  t.match(suspended.out, /status is now suspended/);
  const twice = await cli(env, ['tenants', 'suspend', 'acme-physio']);
  t.equal(twice.code, 1, 'suspending a suspended clinic is refused');
  t.match(twice.err, /is suspended/);

  const resumed = await cli(env, ['tenants', 'resume', 'acme-physio']);
  t.equal(resumed.code, 0);
  t.match(resumed.out, /status is now active/);

  const deleted = await cli(env, ['tenants', 'delete', 'acme-physio', '--json']);
  t.equal(deleted.code, 0);
  const deletedTenant = JSON.parse(deleted.out);
  t.equal(deletedTenant.status, 'deleted');
  t.ok(new Date(deletedTenant.purgeAfter).getTime() > Date.now() + 29 * 86_400_000, 'kept for the grace period');

  const early = await cli(env, ['tenants', 'purge', 'acme-physio']);
  t.equal(early.code, 1);
  t.match(early.err, /can be purged after/);

  const again = await cli(env, ['tenants', 'create', 'acme-physio']);
  t.equal(again.code, 1, 'the address stays taken during the grace period');

  const purged = await cli(env, ['tenants', 'purge', 'acme-physio', '--force']);
  t.equal(purged.code, 0, purged.err);
  t.match(purged.out, /dropped schema t_\d+/);

  // The schema is gone and the address is free again.
  const { createRuntime } = await import('../../src/runtime.ts');
  const { loadConfig } = await import('../../src/config.ts');
  const runtime = await createRuntime({ config: loadConfig(env), log: { info() {}, warn() {}, error() {} }, applicationName: 'test' });
  t.teardown(() => runtime.close());
  const schemas = await sql<{ n: string }>`select count(*) as n from information_schema.schemata where schema_name = ${deletedTenant.schemaName}`.execute(runtime.databases.control);
  t.equal(schemas.rows[0]!.n, '0');
  const recreated = await cli(env, ['tenants', 'create', 'acme-physio']);
  t.equal(recreated.code, 0);
});

t.test('duplicate, reserved and invalid slugs are refused with a clear message', async (t) => {
  const env = await testEnv(t);
  t.equal((await cli(env, ['tenants', 'create', 'clinic'])).code, 0);
  const dup = await cli(env, ['tenants', 'create', 'clinic']);
  t.equal(dup.code, 1);
  t.match(dup.err, /already taken/);

  for (const slug of ['www', 'auth', 'api', 'admin']) {
    const res = await cli(env, ['tenants', 'create', slug]);
    t.equal(res.code, 1, slug);
    t.match(res.err, /reserved/);
  }
  for (const slug of ['-bad', 'bad-', 'a_b', 'a.b', 'x'.repeat(64), 'xn--abc', 'ünï']) {
    const res = await cli(env, ['tenants', 'create', '--', slug]);
    t.equal(res.code, 1, slug);
    t.match(res.err, /letters, digits and dashes/);
  }
  const region = await cli(env, ['tenants', 'create', 'newclinic', '--region', 'mars']);
  t.equal(region.code, 1);
  t.match(region.err, /no region "mars"/);
  const usage = await cli(env, ['tenants', 'create']);
  t.equal(usage.code, 2, 'usage errors exit 2');
  const missing = await cli(env, ['tenants', 'show', 'nobody']);
  t.equal(missing.code, 1);
  t.match(missing.err, /no clinic "nobody"/);
});

t.test('concurrent creation of the same slug: exactly one wins', async (t) => {
  const env = await testEnv(t);
  const attempts = await Promise.all(Array.from({ length: 8 }, () => cli(env, ['tenants', 'create', 'race'])));
  t.equal(attempts.filter((a) => a.code === 0).length, 1, 'one creation succeeds');
  t.equal(attempts.filter((a) => a.code === 1 && /already taken/.test(a.err)).length, 7, 'the others are told the address is taken');
  const list = JSON.parse((await cli(env, ['tenants', 'list', '--json'])).out);
  t.equal(list.length, 1);
  t.equal(list[0].status, 'active');
});

t.test('regions list, drain and undrain (close and open are their old names)', async (t) => {
  const env = await testEnv(t);
  const list = await cli(env, ['regions', 'list', '--json']);
  t.same(JSON.parse(list.out), [{ id: 'local', acceptingTenants: true, configured: true, tenants: 0 }]);
  const drained = await cli(env, ['regions', 'drain', 'local']);
  t.equal(drained.code, 0);
  t.match(drained.out, /region local: new clinics no longer accepted/);
  const refused = await cli(env, ['tenants', 'create', 'late']);
  t.equal(refused.code, 1);
  t.match(refused.err, /not accepting new clinics/);
  t.equal((await cli(env, ['regions', 'undrain', 'local'])).code, 0);
  t.equal((await cli(env, ['tenants', 'create', 'late'])).code, 0);
  t.equal((await cli(env, ['regions', 'close', 'local'])).code, 0);
  t.equal((await cli(env, ['tenants', 'create', 'later'])).code, 1);
  t.equal((await cli(env, ['regions', 'open', 'local'])).code, 0);
  t.equal((await cli(env, ['regions', 'drain', 'mars'])).code, 1, 'an unknown region is refused');
});

t.test('the installed bin runs with the project\'s Node and reports failures in its exit code', async (t) => {
  const env = await testEnv(t);
  const bin = path.resolve('bin/sidechart.js');
  const run = (args: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env } });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('close', (code) => resolve({ code, out, err }));
    });
  const help = await run(['--help']);
  t.equal(help.code, 0);
  t.match(help.out, /tenants/);
  const ok = await run(['tenants', 'create', 'from-bin']);
  t.equal(ok.code, 0, ok.err);
  const bad = await run(['tenants', 'show', 'nobody']);
  t.equal(bad.code, 1);
  t.match(bad.err, /no clinic "nobody"/);
  const badConfig = await run(['tenants', 'list']).then(() => null);
  t.equal(badConfig, null);
  const config = await new Promise<{ code: number | null; err: string }>((resolve) => {
    const child = spawn(process.execPath, [bin, 'tenants', 'list'], { env: { ...process.env, ...env, PORT: 'eighty' } });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, err }));
  });
  t.equal(config.code, 1);
  t.equal(config.err.trim(), 'sidechart: configuration error: PORT: must be a whole number from 1 to 65535 (got "eighty")');
});
