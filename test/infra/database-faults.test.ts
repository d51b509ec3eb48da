// The database going away under load (issue 10, item 5): every connection of the app killed in the
// middle of a burst of patient views. Each answer is a page or a clear 503 (never a 500, never a
// hang), every page served has its audit event, and the app recovers by itself; /readyz goes red
// while the database refuses connections and green once it takes them again.
import pg from 'pg';
import t from 'tap';
import { isDatabaseUnavailable } from '../../src/infra/db.ts';
import { testServerUrl } from '../helpers/db.ts';
import { EXAMPLE_ID, startPatientApp } from '../helpers/patients.ts';

t.test('which errors mean "the database is not there"', async (t) => {
  const cases: [string, unknown, boolean][] = [
    ['admin shutdown (pg_terminate_backend)', { code: '57P01', message: 'terminating connection due to administrator command' }, true],
    ['cannot connect now (starting up)', { code: '57P03' }, true],
    ['connections not allowed', { code: '55000', message: 'database "x" is not currently accepting connections' }, true],
    ['another object-state error', { code: '55000', message: 'cannot drop the currently open database' }, false],
    ['too many connections', { code: '53300' }, true],
    ['connection exception class', { code: '08006' }, true],
    ['refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }), true],
    ['pool wait ran out', new Error('timeout exceeded when trying to connect'), true],
    ['socket closed mid-query', new Error('Connection terminated unexpectedly'), true],
    ['wrapped', Object.assign(new Error('directory unavailable'), { cause: { code: '57P01' } }), true],
    ['a unique violation', { code: '23505' }, false],
    ['a syntax error', { code: '42601' }, false],
    ['a bug', new TypeError('x is undefined'), false],
    ['nothing', null, false],
  ];
  for (const [what, error, expected] of cases) t.equal(isDatabaseUnavailable(error), expected, what);
});

t.test('connections killed mid-burst: pages or 503s, every page audited, recovery without a restart', async (t) => {
  const app = await startPatientApp(t, { env: { DB_POOL_MAX: '5' } });
  t.equal((await app.view(EXAMPLE_ID)).status, 200, 'the patient is held');
  const admin = new pg.Client({ connectionString: app.env.DATABASE_URL });
  await admin.connect();
  t.teardown(() => admin.end());
  const auditRows = async () => Number((await admin.query(`select count(*) as n from "${app.clinic.schemaName}".audit_events where action = 'view' and outcome = 'shown'`)).rows[0].n);
  const before = await auditRows();

  const statuses = new Map<number, number>();
  let served = 0;
  const kill = () => admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()');
  for (let wave = 0; wave < 10; wave++) {
    const views = Array.from({ length: 20 }, () => app.view(EXAMPLE_ID));
    // Every other wave, every connection of the app dies while its requests are in flight.
    const killed = wave % 2 === 0 ? kill() : Promise.resolve();
    for (const res of await Promise.all(views)) {
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 200) served++;
      else {
        t.equal(res.status, 503, `a refused view is a 503 (got ${res.status})`);
        t.match(res.body, /cannot reach its database|could not record this access|cannot reach/i, 'with words a person understands');
        t.notMatch(res.body, /terminat|pg_|stack|ECONN/i, 'and nothing internal');
        t.ok(res.header('retry-after'), 'and a Retry-After');
      }
    }
    await killed;
  }
  t.comment(`answers: ${JSON.stringify(Object.fromEntries(statuses))}`);
  t.equal([...statuses.keys()].filter((s) => s !== 200 && s !== 503).length, 0, 'only 200 and 503');
  t.ok((await auditRows()) - before >= served, `every page served has its audit event (${served} pages)`);

  // Recovered by itself: the pool reconnects on demand.
  t.equal((await app.view(EXAMPLE_ID)).status, 200, 'the next view is served');

  // Readiness follows the database.
  const { pathname } = new URL(app.env.DATABASE_URL!);
  const db = pathname.slice(1);
  const server = new pg.Client({ connectionString: testServerUrl() });
  await server.connect();
  t.teardown(() => server.end());
  await server.query(`alter database ${db} with allow_connections false`);
  await kill();
  const red = await app.app.inject({ url: '/readyz', headers: { host: '127.0.0.1' } });
  t.equal(red.statusCode, 503, '/readyz is red while the database refuses connections');
  const refused = await app.view(EXAMPLE_ID);
  t.equal(refused.status, 503, `a view is a clear 503 meanwhile (${refused.status}: ${refused.body.slice(0, 200)})`);
  await server.query(`alter database ${db} with allow_connections true`);
  t.equal((await app.app.inject({ url: '/readyz', headers: { host: '127.0.0.1' } })).statusCode, 200, 'and green once it takes them again');
  t.equal((await app.view(EXAMPLE_ID)).status, 200, 'views are served again');
});
