// Moving a clinic between regions on two PostgreSQL servers (issue 12, point 4): the machine's
// (control plane and region `local`) and an embedded one (region `eu`). A move keeps every row of
// every table (users, sessions, patients, notes, audit events, the Cliniko connection,
// invitations), keeps its signed-in staff signed in, leaves the source schema gone and the clinic
// writable in its new region; a move stopped at any step is resumed (or, before its switch, rolled
// back) by one command; the audit events of patient views made while it was read-only are kept.
import t from 'tap';
import type pg from 'pg';
import { buildTestApp, cli } from '../helpers/app.ts';
import { allRows, seedClinic } from '../helpers/clinic-data.ts';
import { client, registerEchoRoutes, signInWithPassword, TEST_AUTH_ENV } from '../helpers/fixtures.ts';
import { startRegionServer } from '../helpers/region-server.ts';
import type { Runtime } from '../../src/runtime.ts';

async function schemaIn(pool: pg.Pool, schema: string): Promise<boolean> {
  return (await pool.query('select 1 from pg_namespace where nspname = $1', [schema])).rowCount === 1;
}

/** A view made while the clinic is read-only, as the patient page writes it (the one write allowed). */
async function auditView(pool: pg.Pool, schema: string, detail: string): Promise<void> {
  await pool.query(`insert into "${schema}".audit_events (action, outcome, patient_id, detail) values ('view', 'shown', 1000, $1)`, [detail]);
}

t.test('moving clinics between regions', async (t) => {
  const eu = await startRegionServer(t);
  const { runtime, env, address } = await buildTestApp(t, { listen: true, extend: registerEchoRoutes, env: { ...TEST_AUTH_ENV, SIDECHART_REGIONS: `eu=${eu.url}` } });
  const port = new URL(address!).port;
  const pools = { local: runtime.databases.regions.get('local')!.pool, eu: runtime.databases.regions.get('eu')!.pool };
  const makeClinic = async (slug: string) => {
    const tenant = await runtime.tenants.create({ slug, displayName: slug });
    await seedClinic(runtime as Runtime, slug, 200);
    return tenant;
  };

  await t.test('a move keeps every row and the signed-in staff; the source schema is gone; writable again', async (t) => {
    const tenant = await makeClinic('mover');
    const browser = client({}, t);
    const origin = `http://mover.localhost:${port}`;
    t.equal((await signInWithPassword(browser, origin, 'admin@mover.example')).status, 303);
    const before = await allRows(pools.local, tenant.schemaName);
    t.ok(before.sessions!.length >= 2 && before.audit_events!.length >= 200 && before.patient_notes!.length > 0 && before.invitations!.length > 0, 'rows in every kind of table');

    const run = await cli(env, ['tenants', 'move', 'mover', '--to', 'eu']);
    t.equal(run.code, 0, run.err);
    t.match(run.out, /^started\s+moving mover from local to eu$/m);
    t.match(run.out, /^read_only\s+mover is read-only on every instance/m);
    t.match(run.out, /^copied\s+\d+ tables, \d+ rows copied to eu; counts and checksums match$/m);
    t.match(run.out, /^switched\s+the directory sends mover to eu/m);
    t.match(run.out, /^done\s+local schema t_\d+ dropped; mover is writable again, in eu$/m);
    t.match(run.out, /^moved mover from local to eu in [\d.]+ s$/m);
    t.match(run.out, /^\s+audit_events\s+\d+ rows\s+checksum \w+$/m);

    const after = await runtime.tenants.find('mover');
    t.equal(after.regionId, 'eu');
    t.equal(after.readOnlySince, null, 'writable again');
    t.notOk(await schemaIn(pools.local, tenant.schemaName), 'the source schema is gone');
    t.same(await allRows(pools.eu, tenant.schemaName), before, 'every row of every table, identical');
    t.same(await runtime.databases.control.selectFrom('control.tenant_moves').selectAll().execute(), [], 'no move left recorded');

    const whoami = await browser.get(`${origin}/__test/whoami`, { headers: { accept: 'application/json' } });
    t.equal(whoami.status, 200, 'still signed in: the session moved with the clinic');
    t.match(whoami.json(), { user: { email: 'admin@mover.example' } });
    const fresh = client({}, t);
    t.equal((await signInWithPassword(fresh, origin, 'staff@mover.example')).status, 303, 'and new sign-ins are written in eu');
    t.equal((await fresh.get(`${origin}/__test/whoami`, { headers: { accept: 'application/json' } })).status, 200);

    const back = await cli(env, ['tenants', 'move', 'mover', '--to', 'eu']);
    t.equal(back.code, 1);
    t.match(back.err, /already in region eu/);
  });

  await t.test('a move killed after its copy is resumed; views made meanwhile keep their audit events', async (t) => {
    const tenant = await makeClinic('resumer');
    const before = await allRows(pools.local, tenant.schemaName);
    await t.rejects(
      runtime.mover.move('resumer', 'eu', { failAt: (step) => { if (step === 'copied') throw new Error('killed'); } }),
      /killed/,
    );
    const stuck = await runtime.tenants.find('resumer');
    t.ok(stuck.readOnlySince, 'left read-only');
    t.equal(stuck.regionId, 'local', 'still served from local: never split');
    t.ok(await schemaIn(pools.eu, tenant.schemaName), 'the copy is there');
    await t.rejects(pools.local.query(`insert into "${tenant.schemaName}".patient_notes (patient_id, author_name, body) values (1000, 'x', 'lost?')`), { code: '25006' }, 'the source refuses writes');
    await auditView(pools.local, tenant.schemaName, 'viewed while read-only');
    const again = await cli(env, ['tenants', 'move', 'resumer', '--to', 'eu']);
    t.equal(again.code, 1);
    t.match(again.err, /a move of "resumer" from local to eu is under way \(last step done: copied\)/);

    const resumed = await cli(env, ['tenants', 'move', 'resumer', '--resume']);
    t.equal(resumed.code, 0, resumed.err);
    t.match(resumed.out, /resuming the move of resumer from local to eu after step "copied"/);
    t.match(resumed.out, /1 audit events written meanwhile carried over/);
    const moved = await allRows(pools.eu, tenant.schemaName);
    t.equal(moved.audit_events!.length, before.audit_events!.length + 1, 'the view made while read-only is kept');
    t.ok(moved.audit_events!.some((row) => row.includes('viewed while read-only')));
    t.same({ ...moved, audit_events: [] }, { ...before, audit_events: [] }, 'every other row identical');
    t.notOk(await schemaIn(pools.local, tenant.schemaName));
    t.match(await runtime.tenants.find('resumer'), { regionId: 'eu', readOnlySince: null });
    // New audit events in eu do not collide with the carried-over ids.
    await auditView(pools.eu, tenant.schemaName, 'after the move');
  });

  await t.test('a move killed after its switch cannot be rolled back, only finished', async (t) => {
    const tenant = await makeClinic('switcher');
    await t.rejects(runtime.mover.move('switcher', 'eu', { failAt: (step) => { if (step === 'drop_source') throw new Error('killed'); } }), /killed/);
    t.equal((await runtime.tenants.find('switcher')).regionId, 'eu', 'switched');
    t.ok(await schemaIn(pools.local, tenant.schemaName), 'the source is still there (dropped only after the switch)');
    const rollback = await cli(env, ['tenants', 'move', 'switcher', '--rollback']);
    t.equal(rollback.code, 1);
    t.match(rollback.err, /has already switched to eu: it can only be finished/);
    const resumed = await cli(env, ['tenants', 'move', 'switcher', '--resume', '--json']);
    t.equal(resumed.code, 0, resumed.err);
    t.match(JSON.parse(resumed.out), { slug: 'switcher', from: 'local', to: 'eu' });
    t.notOk(await schemaIn(pools.local, tenant.schemaName));
    t.equal((await runtime.tenants.find('switcher')).readOnlySince, null);
  });

  await t.test('a move stopped before its switch is rolled back: writable where it was, nothing left behind', async (t) => {
    const tenant = await makeClinic('stayer');
    const before = await allRows(pools.local, tenant.schemaName);
    await t.rejects(runtime.mover.move('stayer', 'eu', { failAt: (step) => { if (step === 'copied') throw new Error('killed'); } }), /killed/);
    const rolled = await cli(env, ['tenants', 'move', 'stayer', '--rollback']);
    t.equal(rolled.code, 0, rolled.err);
    t.match(rolled.out, /rolled_back stayer stays in local, writable; nothing is left in eu/);
    t.notOk(await schemaIn(pools.eu, tenant.schemaName), 'the copy is dropped');
    t.match(await runtime.tenants.find('stayer'), { regionId: 'local', readOnlySince: null });
    await pools.local.query(`insert into "${tenant.schemaName}".patient_notes (patient_id, author_name, body) values (1000, 'x', 'writable')`);
    t.equal((await allRows(pools.local, tenant.schemaName)).patient_notes!.length, before.patient_notes!.length + 1, 'the source takes writes again');
    const nothing = await cli(env, ['tenants', 'move', 'stayer', '--resume']);
    t.equal(nothing.code, 1);
    t.match(nothing.err, /no move of "stayer" is under way/);
  });

  await t.test('bad requests are refused before anything changes', async (t) => {
    await makeClinic('refused');
    for (const [args, message] of [
      [['--to', 'mars'], /no region "mars"|not configured here/],
      [[], /give exactly one of --to <region>, --resume or --rollback/],
      [['--to', 'eu', '--resume'], /give exactly one/],
    ] as const) {
      const run = await cli(env, ['tenants', 'move', 'refused', ...args]);
      t.not(run.code, 0);
      t.match(run.err, message);
    }
    t.match(await runtime.tenants.find('refused'), { regionId: 'local', readOnlySince: null });
    t.same(await runtime.databases.control.selectFrom('control.tenant_moves').selectAll().execute(), [], 'nothing recorded');
  });
});
