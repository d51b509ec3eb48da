// Clinics at scale: a schema built by Sidechart's runner is identical to one Kysely's Migrator
// builds step by step; creating a clinic costs the same work with 300 clinics as with 50; a
// migration over 200 clinics survives one clinic's failure and one busy clinic, and a re-run with
// nothing to do touches no clinic schema.
import t from 'tap';
import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import { kyselyOn } from '../../src/infra/db.ts';
import { migrateTenantSchema, tenantMigrations } from '../../src/tenancy/migrations.ts';
import { createTenantService } from '../../src/tenancy/tenants.ts';
import { buildTestApp } from '../helpers/app.ts';

/** Everything the catalog says about a schema, with the schema's name replaced by `S`. */
async function catalogOf(db: Kysely<unknown>, schema: string) {
  const q = async (query: ReturnType<typeof sql>) => JSON.parse(JSON.stringify((await query.execute(db)).rows).replaceAll(schema, 'S'));
  return {
    relations: await q(sql`select relname, relkind, relpersistence from pg_class where relnamespace = ${schema}::regnamespace order by relname`),
    columns: await q(sql`
      select c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull, a.attidentity,
             pg_get_expr(d.adbin, d.adrelid) as default
      from pg_attribute a join pg_class c on c.oid = a.attrelid left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
      where c.relnamespace = ${schema}::regnamespace and a.attnum > 0 and not a.attisdropped order by c.relname, a.attnum`),
    indexes: await q(sql`select indexname, indexdef from pg_indexes where schemaname = ${schema} order by indexname`),
    constraints: await q(sql`
      select c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid) as def
      from pg_constraint k join pg_class c on c.oid = k.conrelid where c.relnamespace = ${schema}::regnamespace order by c.relname, k.conname`),
    triggers: await q(sql`
      select c.relname, g.tgname, pg_get_triggerdef(g.oid) as def
      from pg_trigger g join pg_class c on c.oid = g.tgrelid where c.relnamespace = ${schema}::regnamespace and not g.tgisinternal order by c.relname, g.tgname`),
    functions: await q(sql`select proname, pg_get_functiondef(oid) as def from pg_proc where pronamespace = ${schema}::regnamespace order by proname`),
    migrations: await q(sql`select name from ${sql.id(schema, 'kysely_migration')} order by name`),
    lockRows: await q(sql`select id, is_locked from ${sql.id(schema, 'kysely_migration_lock')}`),
    authSettingsRows: await q(sql`select count(*)::int as n from ${sql.id(schema, 'auth_settings')}`),
  };
}

t.test('a clinic built by the runner is identical to one Kysely migrates step by step', async (t) => {
  const { runtime } = await buildTestApp(t);
  const region = runtime.databases.regions.get('local')!;
  const provider = tenantMigrations();
  await migrateTenantSchema(region, 't_900001', provider);

  // The reference: Kysely's own Migrator, one migration at a time.
  await sql`create schema t_900002`.execute(region.db);
  const migrator = new Migrator({ db: region.db.withSchema('t_900002'), provider, migrationTableSchema: 't_900002' });
  let steps = 0;
  for (;;) {
    const { error, results } = await migrator.migrateUp();
    if (error) throw error;
    if (!results || results.length === 0) break;
    steps++;
  }
  t.equal(steps, Object.keys(await provider.getMigrations()).length, 'the reference applied each migration separately');

  const fast = await catalogOf(region.db, 't_900001');
  const reference = await catalogOf(region.db, 't_900002');
  t.ok(fast.relations.length > 10 && fast.indexes.length > 5 && fast.triggers.length >= 2 && fast.functions.length >= 1, 'there is a catalog to compare');
  t.same(fast, reference, 'tables, columns, defaults, indexes, constraints, triggers, functions and bookkeeping rows match');

  // A schema half migrated by Kysely is finished by the runner without complaint, and ends the same.
  await sql`create schema t_900003`.execute(region.db);
  await new Migrator({ db: region.db.withSchema('t_900003'), provider, migrationTableSchema: 't_900003' }).migrateUp();
  await migrateTenantSchema(region, 't_900003', provider);
  t.same(await catalogOf(region.db, 't_900003'), reference, 'finished from Kysely\'s bookkeeping');
});

t.test('creating a clinic costs the same work with 300 clinics as with 50', async (t) => {
  const { runtime } = await buildTestApp(t);
  // Work, not time: the rows the database sends back for the clinic's schema work, counted on the
  // connections themselves (so introspection queries count too). Kysely's Migrator read every table
  // and column of the database per creation (O(N) rows); the runner reads only its own schema.
  let rows = 0;
  const pool = new pg.Pool({ connectionString: runtime.config.databaseUrl!, max: 2 });
  t.teardown(() => pool.end());
  pool.on('error', () => {}); // idle clients hear of the database dropped (with force) at teardown
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => Promise<{ rows?: unknown[] }>;
    (client as unknown as { query: unknown }).query = (...args: unknown[]) =>
      query(...args).then((result) => {
        rows += result.rows?.length ?? 0;
        return result;
      });
  });
  const tenants = createTenantService({
    control: runtime.databases.control,
    controlPool: runtime.databases.controlPool,
    regions: new Map([['local', { id: 'local', pool, db: kyselyOn<unknown>(pool) }]]),
    defaultRegion: 'local',
  });
  const perCreation: number[] = [];
  for (let i = 0; i < 300; i++) {
    const before = rows;
    await tenants.create({ slug: `many-${i}` });
    perCreation.push(rows - before);
  }
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const first = sum(perCreation.slice(0, 50));
  const last = sum(perCreation.slice(-50));
  t.ok(first > 0, `rows read by the first 50 creations: ${first}`);
  t.ok(last <= 2 * first, `the last 50 read ${last} rows, the first 50 ${first}: not more than twice`);
});

t.test('a migration over 200 clinics: one fails on its data, one is busy; both are recorded and the others are done', async (t) => {
  const { runtime } = await buildTestApp(t);
  const slugs = Array.from({ length: 200 }, (_, i) => `c-${String(i).padStart(3, '0')}`);
  for (let i = 0; i < slugs.length; i += 8) await Promise.all(slugs.slice(i, i + 8).map((slug) => runtime.tenants.create({ slug })));
  const clinic = (slug: string) => runtime.clinics.open(slug, { for: 'operator' });

  // c-042 holds data the new constraint refuses; c-101 is busy (a transaction holds its table).
  const broken = await clinic('c-042');
  await broken.db.insertInto('patients').values({ cliniko_id: '42', first_name: '', last_name: 'Nameless' }).execute();
  const additive: Migration = {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('patients').addColumn('preferred_pronouns', 'text').execute();
      await db.schema.alterTable('patients').addCheckConstraint('patients_first_name_present', sql`first_name <> ''`).execute();
    },
  };
  const provider: MigrationProvider = { getMigrations: async () => ({ ...(await tenantMigrations().getMigrations()), '9000_pronouns': additive }) };
  const migrating = await buildTestApp(t, { env: { DATABASE_URL: runtime.config.databaseUrl! }, tenantMigrations: provider });

  const busy = await clinic('c-101');
  const holder = await runtime.databases.controlPool.connect();
  await holder.query('begin');
  await holder.query(`lock table ${busy.schemaName}.patients in access share mode`);
  const first = await migrating.runtime.tenants.migrateBehind({ concurrency: 4, lockTimeoutMs: 200 });
  await holder.query('rollback');
  holder.release();

  const failed = first.results.filter((r) => r.outcome === 'failed').map((r) => r.slug).sort();
  t.same(failed, ['c-042', 'c-101'], 'only the clinic with refused data and the busy one failed');
  t.equal(first.results.filter((r) => r.outcome === 'migrated').length, 198);
  t.match(first.results.find((r) => r.slug === 'c-042')?.error, /patients_first_name_present/);
  t.match(first.results.find((r) => r.slug === 'c-101')?.error, /lock timeout/);
  const recorded = await migrating.runtime.tenants.find('c-042');
  t.match(recorded.migrationError, /patients_first_name_present/, 'the failure is recorded on the clinic');
  const column = await sql<{ n: number }>`select count(*)::int as n from information_schema.columns where table_schema = ${broken.schemaName} and column_name = 'preferred_pronouns'`.execute(runtime.databases.control);
  t.equal(column.rows[0]!.n, 0, 'rolled back cleanly: not even the column of its first step');

  // Fixed data: a re-run migrates exactly the two that failed.
  await broken.db.updateTable('patients').set({ first_name: 'Named' }).where('cliniko_id', '=', '42').execute();
  const second = await migrating.runtime.tenants.migrateBehind({ concurrency: 4 });
  t.same(second.results.map((r) => [r.slug, r.outcome]).sort(), [['c-042', 'migrated'], ['c-101', 'migrated']]);
  t.equal((await migrating.runtime.tenants.find('c-042')).migrationError, null);

  // Nothing to do: not one query reaches the region's database (only the control plane is asked).
  let regionQueries = 0;
  const local = migrating.runtime.databases.regions.get('local')!;
  const watched = createTenantService({
    control: migrating.runtime.databases.control,
    controlPool: migrating.runtime.databases.controlPool,
    regions: new Map([['local', { ...local, db: kyselyOn<unknown>(local.pool).withPlugin({ transformQuery: (args) => (regionQueries++, args.node), transformResult: async (args) => args.result }) }]]),
    defaultRegion: 'local',
    tenantMigrations: provider,
  });
  const third = await watched.migrateBehind({ concurrency: 4 });
  t.same(third.results, [], 'nothing to migrate');
  t.equal(regionQueries, 0, 'no clinic schema was touched');
});
