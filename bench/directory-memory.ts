// What the tenant directory costs the app process at 10,000 clinics (issue 8 point 4): control rows
// for `count` clinics (no schemas: the directory reads only the control plane), every slug looked up
// once, heap measured before and after with a forced GC. Run with
//   node --expose-gc bench/directory-memory.ts [count]
import pg from 'pg';
import { sql } from 'kysely';
import { kyselyOn, type ControlDatabase } from '../src/infra/db.ts';
import { createTenantDirectory } from '../src/tenancy/directory.ts';
import { migrateControl } from '../src/tenancy/migrations.ts';
import { withDatabase } from './scale.ts';

const count = Number(process.argv[2] ?? 10_000);
const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
await withDatabase(serverUrl, async (url) => {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  const control = kyselyOn<ControlDatabase>(pool);
  try {
    await migrateControl(control);
    await control.insertInto('control.regions').values({ id: 'local' }).execute();
    await sql`insert into control.tenants (id, slug, display_name, region_id, schema_name, status)
              select i, 'clinic-' || i, 'Clinic ' || i, 'local', 't_' || i, 'active' from generate_series(1, ${count}) as i`.execute(control);
    const directory = createTenantDirectory({ control, ttlMs: 3_600_000, max: 20_000 });
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 1; i <= count; i++) await directory.lookup(`clinic-${i}`);
    gc();
    const after = process.memoryUsage().heapUsed;
    process.stdout.write(`directory: ${directory.size} clinics cached, heap +${((after - before) / 2 ** 20).toFixed(1)} MiB (${Math.round((after - before) / directory.size)} bytes a clinic)\n`);
  } finally {
    await control.destroy();
  }
});
