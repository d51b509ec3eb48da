// Isolation under concurrency: many tenants, thousands of interleaved requests over a small pool,
// and not one response carrying another tenant's rows. The same check run against a handle that
// uses a session-level `SET search_path` (the classic leak) must catch it.
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { buildTestApp } from '../helpers/app.ts';
import { AppError } from '../../src/infra/errors.ts';

const TENANTS = 20;
const REQUESTS = 2000;

interface Row {
  cliniko_id: string;
  first_name: string;
}

async function hammer(app: FastifyInstance, url: string, slugs: string[], count: number) {
  const responses = await Promise.all(
    Array.from({ length: count }, (_, i) => {
      const slug = slugs[i % slugs.length]!;
      return app.inject({ url, headers: { host: `${slug}.localhost`, accept: 'application/json' } }).then((res) => ({ slug, res }));
    }),
  );
  let foreign = 0;
  let failed = 0;
  let served = 0;
  for (const { slug, res } of responses) {
    if (res.statusCode !== 200) {
      failed++;
      continue;
    }
    served++;
    const rows = res.json() as Row[];
    if (rows.length === 0 || rows.some((r) => r.first_name !== slug)) foreign++;
  }
  return { foreign, failed, served };
}

t.test('schema-scoped handles never leak across tenants', async (t) => {
  const { app, runtime } = await buildTestApp(t, {
    env: { DB_POOL_MAX: '4' },
    extend(app, runtime) {
      // A route that reads tenant data the way real routes do: only through request.tenantDb.
      app.get('/test/patients', async (request) => {
        if (!request.tenantDb) throw new AppError(404, 'not_found', 'no tenant');
        return request.tenantDb.selectFrom('patients').select(['cliniko_id', 'first_name']).orderBy('cliniko_id').execute();
      });
      // The bug this design exists to prevent: a session-level SET, then a query, each taking
      // whatever pooled connection is free.
      const pool = runtime.databases.regions.get('local')!.pool;
      app.get('/test/broken-patients', async (request) => {
        if (!request.tenant) throw new AppError(404, 'not_found', 'no tenant');
        await pool.query(`set search_path to ${request.tenant.schemaName}`);
        const result = await pool.query('select cliniko_id, first_name from patients order by cliniko_id');
        return result.rows;
      });
    },
  });

  const slugs = Array.from({ length: TENANTS }, (_, i) => `clinic-${i}`);
  for (const slug of slugs) {
    await runtime.tenants.create({ slug });
    const tenant = await runtime.directory.lookup(slug);
    const db = (await import('../../src/tenancy/scope.ts')).scopeToTenant(runtime.databases.regions.get('local')!, tenant!.schemaName);
    await db
      .insertInto('patients')
      .values([0, 1, 2].map((k) => ({ cliniko_id: `83644712923588${String(k).padStart(4, '0')}`, first_name: slug, last_name: 'Patient' })))
      .execute();
  }

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
  const { scopeToTenant } = await import('../../src/tenancy/scope.ts');
  const db = scopeToTenant(runtime.databases.regions.get('local')!, tenant!.schemaName);
  await t.rejects(sql`select * from patients`.execute(db), /relation "patients" does not exist/);
  t.throws(() => scopeToTenant(runtime.databases.regions.get('local')!, 'public'), /non-tenant schema/);
  t.throws(() => scopeToTenant(runtime.databases.regions.get('local')!, 'control'), /non-tenant schema/);
});
