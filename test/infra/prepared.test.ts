// Hot-path queries compiled once per clinic and run as named prepared statements (infra/db.ts
// reusableQuery): the right rows for each ID and clinic, really prepared on the connection, still
// working after a migration adds a column, and plain queries when DB_PREPARED_STATEMENTS is off.
import { sql } from 'kysely';
import t from 'tap';
import { createPool, kyselyOn, reusableQuery, type Region } from '../../src/infra/db.ts';
import { loadConfig } from '../../src/config.ts';
import { findPatient, savePatient } from '../../src/patients/sync.ts';
import { scopeToTenant } from '../../src/tenancy/clinic.ts';
import type { ClinikoPatient } from '../../src/cliniko/types.ts';
import type { TenantDb } from '../../src/tenancy/tenant-database.ts';
import { buildTestApp } from '../helpers/app.ts';

const patient = (id: string, name: string) => ({ id, first_name: name, last_name: 'Tester', created_at: '2024-01-01T00:00:00Z', updated_at: '2024-01-01T00:00:00Z' }) as unknown as ClinikoPatient;

t.test('reusable queries: right rows per ID and clinic, prepared once per connection, robust to new columns', async (t) => {
  const { runtime, env } = await buildTestApp(t);
  const acme = await runtime.tenants.create({ slug: 'acme', displayName: 'Acme' });
  const other = await runtime.tenants.create({ slug: 'other', displayName: 'Other' });

  for (const prepared of [true, false]) {
    const config = loadConfig({ ...env, DB_POOL_MAX: '1', DB_PREPARED_STATEMENTS: String(prepared) });
    const pool = createPool({ url: env.DATABASE_URL!, applicationName: 'sidechart-test', db: config.db, onError: () => {} });
    t.teardown(() => pool.end());
    const region: Region = { id: 'local', pool, db: kyselyOn(pool) };
    const scope = (schemaName: string) => ({ db: scopeToTenant(region, schemaName), schemaName });
    const inAcme = scope(acme.schemaName);
    const inOther = scope(other.schemaName);

    await savePatient(inAcme, patient('1001', `Ada ${prepared}`), new Date());
    await savePatient(inAcme, patient('1002', `Bo ${prepared}`), new Date());
    await savePatient(inOther, patient('1001', `Other Ada ${prepared}`), new Date());
    t.equal((await findPatient(inAcme, '1001'))?.first_name, `Ada ${prepared}`);
    t.equal((await findPatient(inAcme, '1002'))?.first_name, `Bo ${prepared}`, 'another ID, the same compiled query');
    t.equal((await findPatient(inOther, '1001'))?.first_name, `Other Ada ${prepared}`, 'the same ID in another clinic: its own row');
    t.equal(await findPatient(inAcme, '999'), undefined);

    const names = (await pool.query<{ name: string }>("select name from pg_prepared_statements where name like 'sidechart_%'")).rows;
    if (prepared) t.equal(names.length, 2, 'one prepared statement per clinic on this connection');
    else t.equal(names.length, 0, 'DB_PREPARED_STATEMENTS=false: nothing prepared');

    // A migration adding a column must not break a statement the connection already prepared.
    await sql`alter table ${sql.id(acme.schemaName, 'patients')} add column ${sql.id(`extra_${prepared}`)} text`.execute(region.db);
    t.equal((await findPatient(inAcme, '1001'))?.first_name, `Ada ${prepared}`, 'still answers after a column was added');
  }
});

t.test('a reusable query refuses a build whose SQL would depend on the values', async (t) => {
  const { runtime } = await buildTestApp(t);
  await runtime.tenants.create({ slug: 'acme', displayName: 'Acme' });
  const db = (await runtime.clinics.open('acme', { for: 'operator' })).db;
  const unused = reusableQuery((db: TenantDb, _id: string) => db.selectFrom('patients').select('cliniko_id'));
  await t.rejects(unused(db, '1'), /each argument must be bound exactly once/);
});
