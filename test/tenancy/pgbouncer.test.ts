// The isolation test again, through a real PgBouncer in transaction mode: the setting where a
// session-level search_path silently reads another clinic's rows. Provisioning and migrations also
// run through it (each is one transaction).
import t from 'tap';
import { buildTestApp } from '../helpers/app.ts';
import { createTestDatabase, testServerUrl } from '../helpers/db.ts';
import { hammer, registerIsolationRoutes, seedClinics } from '../helpers/isolation.ts';
import { pgbouncerAvailable, startPgBouncer } from '../helpers/pgbouncer.ts';

t.test('isolation through PgBouncer (transaction mode)', { skip: pgbouncerAvailable() ? false : 'pgbouncer is not installed (.ci/run installs it)' }, async (t) => {
  const direct = await createTestDatabase(t);
  const bouncer = await startPgBouncer(t, testServerUrl(), { poolSize: 3 });
  const { app, runtime } = await buildTestApp(t, {
    env: { DATABASE_URL: bouncer.through(direct), CONTROL_LISTEN_URL: direct, DB_POOL_MAX: '10', DB_PREPARED_STATEMENTS: 'false' },
    extend: registerIsolationRoutes,
  });
  const slugs = await seedClinics(runtime, 10, 'bounced');

  const correct = await hammer(app, '/test/patients', slugs, 1000);
  t.equal(correct.served, 1000);
  t.equal(correct.foreign, 0, 'no foreign rows through PgBouncer');

  const broken = await hammer(app, '/test/broken-patients', slugs, 300);
  t.ok(broken.foreign + broken.failed > 0, `session-level SET breaks behind PgBouncer (${broken.foreign} foreign, ${broken.failed} failed of 300)`);
});
