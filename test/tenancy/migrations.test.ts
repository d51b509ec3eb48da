// `sidechart migrate` over many tenants: a new tenant migration reaches all of them, a re-run is a
// no-op, one tenant's failure is recorded and retried without redoing the others, and a tenant left
// half-created is finished.
import t from 'tap';
import { sql, type Kysely } from 'kysely';
import type { Migration, MigrationProvider } from 'kysely/migration';
import { buildTestApp, cli } from '../helpers/app.ts';
import { latestVersion, tenantMigrations } from '../../src/tenancy/migrations.ts';

const TENANTS = 50;

/** The project's tenant migrations plus one added by this test. */
function withSecondMigration(extra: Migration): MigrationProvider {
  return {
    async getMigrations() {
      return { ...(await tenantMigrations().getMigrations()), '9999_test_visits': extra };
    },
  };
}

t.test('a second tenant migration reaches every tenant; re-running is a no-op', async (t) => {
  const { runtime, env } = await buildTestApp(t);
  const slugs = Array.from({ length: TENANTS }, (_, i) => `m-${String(i).padStart(2, '0')}`);
  for (let i = 0; i < slugs.length; i += 5) await Promise.all(slugs.slice(i, i + 5).map((slug) => runtime.tenants.create({ slug })));

  const visits: Migration = {
    async up(db: Kysely<any>) {
      await db.schema.createTable('visits').addColumn('id', 'bigint', (c) => c.primaryKey()).addColumn('note', 'text').execute();
      // Fails, after doing part of its work, for a tenant holding the marker patient 4242.
      const probe = await db.selectFrom('patients').select('cliniko_id').where('cliniko_id', '=', '4242').executeTakeFirst();
      if (probe) throw new Error('simulated failure in 9999');
    },
  };
  const provider = withSecondMigration(visits);

  // m-07 gets a marker row that makes its migration fail the first time.
  const marked = await runtime.directory.lookup('m-07');
  await sql`insert into ${sql.id(marked!.schemaName, 'patients')} (cliniko_id) values (4242)`.execute(runtime.databases.control);

  const first = await cli(env, ['migrate', '--concurrency', '4', '--json'], { tenantMigrations: provider });
  t.equal(first.code, 1, 'exit code says something failed');
  const firstReport = JSON.parse(first.out);
  t.equal(firstReport.latest, '9999_test_visits');
  t.equal(firstReport.migrated, TENANTS - 1);
  t.equal(firstReport.failed, 1);
  const failure = firstReport.results.find((r: { outcome: string }) => r.outcome === 'failed');
  t.equal(failure.slug, 'm-07');
  t.match(failure.error, /simulated failure/);

  // The failed tenant is untouched (its transaction rolled back) and its error is recorded.
  const failedTenant = await runtime.tenants.find('m-07');
  t.equal(failedTenant.schemaVersion, await latestVersion(tenantMigrations()));
  t.match(failedTenant.migrationError, /simulated failure/);
  const half = await sql<{ n: string }>`select count(*) as n from information_schema.tables where table_schema = ${marked!.schemaName} and table_name = 'visits'`.execute(runtime.databases.control);
  t.equal(half.rows[0]!.n, '0', 'no half-migrated schema');

  // Every other tenant has the new table and the new version.
  const tables = await sql<{ n: string }>`select count(*) as n from information_schema.tables where table_name = 'visits' and table_schema like 't\\_%'`.execute(runtime.databases.control);
  t.equal(tables.rows[0]!.n, String(TENANTS - 1));
  const list = await runtime.tenants.list();
  t.equal(list.filter((x) => x.schemaVersion === '9999_test_visits').length, TENANTS - 1);

  // Fix the cause and run again: only the failed tenant is touched.
  await sql`delete from ${sql.id(marked!.schemaName, 'patients')} where cliniko_id = 4242`.execute(runtime.databases.control);
  const second = await cli(env, ['migrate', '--json'], { tenantMigrations: provider });
  t.equal(second.code, 0, second.err);
  const secondReport = JSON.parse(second.out);
  t.equal(secondReport.migrated, 1);
  t.same(secondReport.results.map((r: { slug: string }) => r.slug), ['m-07']);
  t.equal((await runtime.tenants.find('m-07')).migrationError, null);

  // Nothing left to do: a no-op run touches no tenant.
  const third = await cli(env, ['migrate'], { tenantMigrations: provider });
  t.equal(third.code, 0);
  t.match(third.out, /nothing to do/);

  // New tenants are created at the latest version.
  const created = await cli(env, ['tenants', 'create', 'late-comer', '--json'], { tenantMigrations: provider });
  t.equal(JSON.parse(created.out).schemaVersion, '9999_test_visits');
});

t.test('migrate finishes a tenant left provisioning by a crash', async (t) => {
  const { runtime, env, app } = await buildTestApp(t);
  // Simulate a crash after the control row was written but before the schema was built.
  await runtime.databases.control
    .insertInto('control.tenants')
    .values({ id: '777', slug: 'halfway', display_name: 'Halfway', region_id: 'local', schema_name: 't_777', status: 'provisioning' })
    .execute();
  t.equal((await app.inject({ url: '/', headers: { host: 'halfway.localhost' } })).statusCode, 503);
  const run = await cli(env, ['migrate']);
  t.equal(run.code, 0, run.err);
  t.match(run.out, /ok +halfway/);
  const tenant = await runtime.tenants.find('halfway');
  t.equal(tenant.status, 'active');
  t.equal(tenant.schemaVersion, await latestVersion(tenantMigrations()));
  runtime.directory.invalidate('halfway');
  t.equal((await app.inject({ url: '/', headers: { host: 'halfway.localhost' } })).statusCode, 200);
});

t.test('bad --concurrency is a usage error', async (t) => {
  const { env } = await buildTestApp(t);
  for (const value of ['0', '-1', 'many', '1000']) {
    const run = await cli(env, ['migrate', '--concurrency', value]);
    t.equal(run.code, 2, value);
  }
});
