// `sidechart regions list|add|drain|undrain` (issue 12, point 3). Connection details stay in
// configuration: a secret file (SIDECHART_REGIONS_FILE) whose lines are id=postgres-url. `add`
// reads it again, checks that the database answers and takes clinic schemas, records the region
// and tells running instances, which open its pool without a restart (the sign-up page of a
// running app offers it). A drained region takes no clinics, and sign-up says so.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { buildTestApp, cli } from '../helpers/app.ts';
import { startRegionServer } from '../helpers/region-server.ts';

/** Waits until `done` holds (it is checked again as the app hears the announcement). */
async function until(done: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt++) {
    if (await done()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`never: ${what}`);
}

t.test('a region joins from the regions file with one command, and a running app offers it', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidechart-regions-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const regionsFile = path.join(dir, 'regions');
  await writeFile(regionsFile, '# id=postgres-url, one per line\n', { mode: 0o600 });
  const eu = await startRegionServer(t);
  const { app, runtime, env } = await buildTestApp(t, { env: { SIDECHART_REGIONS_FILE: regionsFile } });
  const signupPage = async () => (await app.inject({ url: '/signup', headers: { host: 'localhost' } })).body;

  const unknown = await cli(env, ['regions', 'add', 'eu']);
  t.equal(unknown.code, 1);
  t.match(unknown.err, /region "eu" has no connection details: add a line "eu=postgres:\/\/…" to the regions file/);

  await writeFile(regionsFile, `# id=postgres-url, one per line\neu=${eu.url}\ndown=postgres://postgres@127.0.0.1:1/nowhere\n`);
  const added = await cli(env, ['regions', 'add', 'eu']);
  t.equal(added.code, 0, added.err);
  t.match(added.out, /^added region eu \(PostgreSQL \d+\.\d+ answers; clinic schemas can be created\)/);
  t.match(added.out, /new clinics: accepted/);
  t.notMatch(added.out + added.err, new RegExp(eu.url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')), 'the URL (with its password) is never printed');
  await until(() => runtime.databases.regions.has('eu'), 'the running app opened a pool for eu');
  t.match(await signupPage(), /id="region-eu"/, 'sign-up offers the new region without a restart');

  const again = await cli(env, ['regions', 'add', 'eu', '--json']);
  t.equal(again.code, 0);
  t.match(JSON.parse(again.out), { id: 'eu', recorded: false, acceptingTenants: true }, 'adding twice changes nothing');

  const down = await cli(env, ['regions', 'add', 'down']);
  t.equal(down.code, 1);
  t.match(down.err, /region "down"'s database does not answer; nothing was recorded/);

  const list = JSON.parse((await cli(env, ['regions', 'list', '--json'])).out) as { id: string; configured: boolean }[];
  t.same(list.map((r) => r.id), ['eu', 'local'], 'the region that did not answer was not recorded');

  const created = await cli(env, ['tenants', 'create', 'paris', '--region', 'eu']);
  t.equal(created.code, 0, created.err);
  t.equal((await runtime.tenants.find('paris')).regionId, 'eu', 'clinics can be placed there');

  t.equal((await cli(env, ['regions', 'drain', 'eu'])).code, 0);
  t.match((await cli(env, ['tenants', 'create', 'nice', '--region', 'eu'])).err, /not accepting new clinics/);
  t.match(await signupPage(), /id="region-eu-drained">Stored in the European Union: not accepting new clinics at the moment\./, 'sign-up says so');
  t.equal((await cli(env, ['regions', 'undrain', 'eu'])).code, 0);
  t.equal((await cli(env, ['tenants', 'create', 'nice', '--region', 'eu'])).code, 0);
});
