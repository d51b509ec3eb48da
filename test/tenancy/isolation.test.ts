// Isolation under concurrency: many tenants, thousands of interleaved requests over a small pool,
// and not one response carrying another tenant's rows. The same check run against a handle that
// uses a session-level `SET search_path` (the classic leak) must catch it.
import t from 'tap';
import { buildTestApp } from '../helpers/app.ts';
import { hammer, registerIsolationRoutes, seedClinics } from '../helpers/isolation.ts';

const TENANTS = 20;
const REQUESTS = 2000;

t.test('schema-scoped handles never leak across tenants', async (t) => {
  const { app, runtime } = await buildTestApp(t, { env: { DB_POOL_MAX: '4' }, extend: registerIsolationRoutes });
  const slugs = await seedClinics(runtime, TENANTS);

  const correct = await hammer(app, '/test/patients', slugs, REQUESTS);
  t.equal(correct.served, REQUESTS, `all ${REQUESTS} requests served`);
  t.equal(correct.foreign, 0, 'zero responses with another tenant\'s rows');

  // The detector works: the broken handle leaks under the same load.
  const broken = await hammer(app, '/test/broken-patients', slugs, 400);
  t.ok(broken.foreign > 0, `a session-level SET search_path leaks (${broken.foreign} of ${broken.served} served responses had foreign rows)`);

  // And the pool is none the worse: scoped queries still see only their own tenant afterwards,
  // even on connections the broken route left with a stale search_path.
  const after = await hammer(app, '/test/patients', slugs, 400);
  t.equal(after.foreign, 0);
});

t.test('a raw query that forgets the schema fails loudly instead of reading public', async (t) => {
  const { runtime } = await buildTestApp(t);
  await runtime.tenants.create({ slug: 'solo' });
  const { sql } = await import('kysely');
  const tenant = await runtime.directory.lookup('solo');
  const { scopeToTenant } = await import('../../src/tenancy/clinic.ts');
  const db = scopeToTenant(runtime.databases.regions.get('local')!, tenant!.schemaName);
  await t.rejects(sql`select * from patients`.execute(db), /relation "patients" does not exist/);
  t.throws(() => scopeToTenant(runtime.databases.regions.get('local')!, 'public'), /non-tenant schema/);
  t.throws(() => scopeToTenant(runtime.databases.regions.get('local')!, 'control'), /non-tenant schema/);
});
