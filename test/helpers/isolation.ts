// Shared by the isolation tests (direct and through PgBouncer): seed tenants with distinct rows,
// register a correct and a deliberately broken read route, and hammer them concurrently.
import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../../src/runtime.ts';
import { requireClinic } from '../../src/tenancy/plugin.ts';
import { openClinic } from './fixtures.ts';

interface Row {
  cliniko_id: string;
  first_name: string;
}

/** Registers /test/patients (through the request's clinic handle) and /test/broken-patients (session-level SET). */
export function registerIsolationRoutes(app: FastifyInstance, runtime: Runtime): void {
  app.get('/test/patients', async (request) => {
    return requireClinic(request).db.selectFrom('patients').select(['cliniko_id', 'first_name']).orderBy('cliniko_id').execute();
  });
  // The bug this design exists to prevent: a session-level SET, then a query, each taking
  // whatever pooled connection is free.
  const pool = runtime.databases.regions.get('local')!.pool;
  app.get('/test/broken-patients', async (request) => {
    await pool.query(`set search_path to ${requireClinic(request).schemaName}`);
    const result = await pool.query('select cliniko_id, first_name from patients order by cliniko_id');
    return result.rows;
  });
}

/** Creates `count` clinics, each holding three patients whose first name is the clinic's slug. */
export async function seedClinics(runtime: Runtime, count: number, prefix = 'clinic'): Promise<string[]> {
  const slugs = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  for (const slug of slugs) {
    await runtime.tenants.create({ slug });
    const { db } = await openClinic(runtime, slug);
    await db
      .insertInto('patients')
      .values([0, 1, 2].map((k) => ({ cliniko_id: `83644712923588${String(k).padStart(4, '0')}`, first_name: slug, last_name: 'Patient' })))
      .execute();
  }
  return slugs;
}

export async function hammer(app: FastifyInstance, url: string, slugs: string[], count: number) {
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
