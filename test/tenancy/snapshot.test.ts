// Copying a clinic schema's rows (src/tenancy/snapshot.ts) between two real PostgreSQL servers: the
// machine's (the control plane and region `local`) and an embedded one (region `second`).
import t, { type Test } from 'tap';
import { loadConfig } from '../../src/config.ts';
import { createRuntime } from '../../src/runtime.ts';
import { latestVersion, migrateTenantSchema, migrateTenantSchemaTo, tenantMigrations } from '../../src/tenancy/migrations.ts';
import { copySchemaRows, fingerprintSchema } from '../../src/tenancy/snapshot.ts';
import { tenancyErrors } from '../../src/tenancy/errors.ts';
import { testEnv } from '../helpers/app.ts';
import { allRows, seedClinic } from '../helpers/clinic-data.ts';
import { startRegionServer } from '../helpers/region-server.ts';

const silent = { info() {}, warn() {}, error() {} };
const provider = tenantMigrations();

async function setup(t: Test, options: { secondServer?: boolean } = {}) {
  const second = options.secondServer === false ? null : await startRegionServer(t);
  const env = await testEnv(t, { ...(second ? { SIDECHART_REGIONS: `second=${second.url}` } : {}), PASSWORD_HASH_MEMORY_KIB: '64' });
  const runtime = await createRuntime({ config: loadConfig(env), log: silent, applicationName: 'snapshot-test', migrate: true });
  t.teardown(() => runtime.close());
  const local = runtime.databases.regions.get('local')!;
  const remote = runtime.databases.regions.get(second ? 'second' : 'local')!;
  return { runtime, local, remote };
}

t.test('copySchemaRows copies every row to another server: same rows, same fingerprints, sequences past the source', async (t) => {
  const { runtime, local, remote } = await setup(t);
  const source = await runtime.tenants.create({ slug: 'acme' });
  await seedClinic(runtime, 'acme', 5_000);
  const target = 't_900000001';
  await migrateTenantSchema(remote, target, provider);

  const progress: { table: string; rows: number; done: number; total: number }[] = [];
  const started = performance.now();
  const copied = await copySchemaRows({ source: local.pool, sourceSchema: source.schemaName, target: remote.pool, targetSchema: target, onTable: (p) => progress.push(p) });
  t.comment(`copied ${copied.reduce((n, f) => n + f.rows, 0)} rows across servers in ${((performance.now() - started) / 1000).toFixed(2)} s`);

  const tables = copied.map((f) => f.table);
  t.same(tables, [...tables].sort(), 'fingerprints in name order');
  t.same(tables.sort(), ['audit_events', 'auth_settings', 'cliniko_connection', 'invitations', 'patient_notes', 'patients', 'sessions', 'user_identities', 'users'], 'every table but the migration bookkeeping');
  t.equal(copied.find((f) => f.table === 'audit_events')!.rows, 5_000);
  t.same(await fingerprintSchema(remote.pool, target), copied, 'the target fingerprints as the source did');
  t.same(await fingerprintSchema(local.pool, source.schemaName), copied);
  t.same(await allRows(remote.pool, target), await allRows(local.pool, source.schemaName), 'every row of every table is the same');

  t.equal(progress.length, 9);
  t.same(progress.map((p) => p.done), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.ok(progress.findIndex((p) => p.table === 'patients') < progress.findIndex((p) => p.table === 'patient_notes'), 'parents before children');
  t.ok(progress.findIndex((p) => p.table === 'users') < progress.findIndex((p) => p.table === 'user_identities'));

  // The clinic keeps serving during a copy: what it writes after the snapshot stays out of it.
  const second = 't_900000005';
  await migrateTenantSchema(remote, second, provider);
  let write: Promise<unknown> | null = null;
  const during = await copySchemaRows({
    source: local.pool, sourceSchema: source.schemaName, target: remote.pool, targetSchema: second,
    onTable: () => (write ??= local.pool.query(`insert into ${source.schemaName}.patients (cliniko_id, first_name) values (77, 'Late')`)),
  });
  await write;
  t.same(during, copied, 'the copy is the snapshot, verified');
  const late = await remote.pool.query(`select 1 from ${second}.patients where cliniko_id = 77`);
  t.equal(late.rows.length, 0, 'a row written after the snapshot is not copied');

  // The deleted user's ID is not handed out again: audit rows may still name it.
  const next = await remote.pool.query<{ id: string }>(`insert into ${target}.users (email) values ('later@acme.example') returning id::text`);
  t.equal(next.rows[0]!.id, '4', 'the next user ID is past the removed user (3), not past the largest kept (2)');
});

t.test('copySchemaRows refuses a non-empty target, another version, and throws (keeping nothing) when the rows differ', async (t) => {
  const { runtime, local, remote } = await setup(t);
  const source = await runtime.tenants.create({ slug: 'acme' });
  await seedClinic(runtime, 'acme', 10);
  const copy = (targetSchema: string) => copySchemaRows({ source: local.pool, sourceSchema: source.schemaName, target: remote.pool, targetSchema });

  const older = 't_900000002';
  const versions = Object.keys(await provider.getMigrations()).sort();
  await migrateTenantSchemaTo(remote, older, provider, versions.at(-2)!);
  await t.rejects(copy(older), { code: tenancyErrors.copyVersionMismatch.code, message: new RegExp(`target at ${versions.at(-2)}`) });

  const busy = 't_900000003';
  await migrateTenantSchema(remote, busy, provider);
  await remote.pool.query(`insert into ${busy}.patients (cliniko_id) values (1)`);
  await t.rejects(copy(busy), { code: tenancyErrors.copyTargetNotEmpty.code, message: /table "patients"/ });

  // A target that changes rows as they arrive (here a trigger) is caught by the fingerprints.
  const altered = 't_900000004';
  await migrateTenantSchema(remote, altered, provider);
  await remote.pool.query(`create function ${altered}.shout() returns trigger language plpgsql as $$ begin new.last_name := upper(new.last_name); return new; end $$`);
  await remote.pool.query(`create trigger shout before insert on ${altered}.patients for each row execute function ${altered}.shout()`);
  await t.rejects(copy(altered), { code: tenancyErrors.copyMismatch.code, message: /table "patients" \(same 6 rows, different contents\)/ });
  const left = await remote.pool.query<{ n: string }>(`select (select count(*) from ${altered}.users) + (select count(*) from ${altered}.audit_events) as n`);
  t.equal(left.rows[0]!.n, '0', 'nothing was kept in the target');
});

t.test('fingerprints: order-independent, blind to the schema name and to session formats', async (t) => {
  const { local } = await setup(t, { secondServer: false });
  const version = await latestVersion(provider);
  const [a, b] = ['t_900000011', 't_900000012'];
  await migrateTenantSchema(local, a, provider);
  await migrateTenantSchema(local, b, provider);
  await local.pool.query(`insert into ${a}.patients (cliniko_id, first_name, created_at, updated_at) values (1, 'x', '2024-01-01Z', '2024-01-01Z'), (2, 'y', '2024-01-01Z', '2024-01-01Z')`);
  await local.pool.query(`insert into ${b}.patients (cliniko_id, first_name, created_at, updated_at) values (2, 'y', '2024-01-01Z', '2024-01-01Z'), (1, 'x', '2024-01-01Z', '2024-01-01Z')`);
  // auth_settings differ (each schema's row was seeded at its own time): the other tables are compared.
  const comparable = async (schema: string) => (await fingerprintSchema(local.pool, schema)).filter((f) => f.table !== 'auth_settings');
  t.same(await comparable(a), await comparable(b), 'same rows, other schema, other order');

  await local.pool.query(`insert into ${a}.audit_events (action, outcome, occurred_at) values ('view', 'ok', '2024-01-01Z'), ('view', 'ok', '2024-01-01Z')`);
  await local.pool.query(`insert into ${b}.audit_events (id, action, outcome, occurred_at) values (1, 'view', 'ok', '2024-01-01Z'), (2, 'view', 'ok', '2024-01-01Z')`);
  t.same(await comparable(a), await comparable(b), 'generated or given IDs, the same rows');
  await local.pool.query(`update ${b}.patients set first_name = 'z' where cliniko_id = 1`);
  const [fa, fb] = [await fingerprintSchema(local.pool, a), await fingerprintSchema(local.pool, b)];
  t.notSame(fa.find((f) => f.table === 'patients'), fb.find((f) => f.table === 'patients'), 'one changed value changes the checksum');

  // On a client, inside its transaction or not, with the caller's formats left as they were.
  const client = await local.pool.connect();
  t.teardown(() => client.release());
  await client.query(`set timezone = 'Pacific/Chatham'`);
  t.same(await fingerprintSchema(client, a), fa, 'outside a transaction');
  await client.query('begin');
  t.same(await fingerprintSchema(client, a), fa, 'inside one');
  t.equal((await client.query<{ tz: string }>(`select current_setting('TimeZone') as tz`)).rows[0]!.tz, 'Pacific/Chatham', 'the session keeps its own time zone');
  await client.query('commit');
  t.ok(version);
});
