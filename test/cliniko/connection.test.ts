// A clinic's Cliniko connection: `sidechart cliniko connect|status|disconnect|rekey`, verification
// against the right shard, and the API key kept out of the database (sealed), the logs, the pages
// and the CLI's output.
import t from 'tap';
import { captureLogs } from '../helpers/logs.ts';
import { cli } from '../helpers/app.ts';
import { apiKeyAad, clinikoStatus, loadClinikoCredentials } from '../../src/cliniko/connection.ts';
import { DEMO_PATIENT_IDS } from '../../src/cliniko/simulator/index.ts';
import { createSecretBox, generateKeySpec, parseKeyring } from '../../src/infra/crypto.ts';
import { scopeToTenant } from '../../src/tenancy/clinic.ts';
import { EXAMPLE_ID, startPatientApp, textOf } from '../helpers/patients.ts';

t.test('connect with --key-stdin: verified with Cliniko, account recorded, key never printed', async (t) => {
  const app = await startPatientApp(t, { connect: false });
  const key = app.demo.apiKey;

  const refused = await cli(app.env, ['cliniko', 'connect', 'acme']);
  t.equal(refused.code, 2, 'a usage error');
  t.match(refused.err, /--key-stdin/);
  const empty = await cli(app.env, ['cliniko', 'connect', 'acme', '--key-stdin'], { stdin: '\n' });
  t.equal(empty.code, 1);
  t.match(empty.err, /no API key on standard input/);

  const wrongShard = key.replace(/-au1$/, '-au2');
  const failures: Array<[string, string, RegExp]> = [
    ['wrong key', 'wrongwrongwrongwrong-au1', /Cliniko refused this API key at api\.au1\.cliniko\.localhost:\d+ \(shard au1, from the key's suffix\)\. Either the key is wrong or revoked, or it belongs to another shard/],
    ['right key, wrong shard', wrongShard, /Cliniko refused this API key at api\.au2\.cliniko\.localhost:\d+ \(shard au2/],
    ['not a key', 'has spaces in it-au1', /contains spaces/],
    ['bad shard suffix', 'abcdef-a1', /valid shard suffix/],
  ];
  for (const [name, badKey, message] of failures) {
    const res = await cli(app.env, ['cliniko', 'connect', 'acme', '--key-stdin'], { stdin: `${badKey}\n` });
    t.equal(res.code, 1, name);
    t.match(res.err, message, `${name}: an admin can act on the message`);
    t.notOk(`${res.out}${res.err}`.includes(badKey), `${name}: the key is not echoed`);
  }
  t.equal(await app.clinic.db.selectFrom('cliniko_connection').selectAll().executeTakeFirst(), undefined, 'nothing stored for a refused key');

  const connected = await cli(app.env, ['cliniko', 'connect', 'acme', '--key-stdin'], { stdin: `${key}\n` });
  t.equal(connected.code, 0, connected.err);
  t.match(connected.out, /clinic acme is connected to Cliniko/);
  t.match(connected.out, /account: +Fitzroy Physio & Pilates, fitzroy-physio\.cliniko\.com \(id 836447129235800001\)/);
  t.match(connected.out, /shard: +au1/);
  t.match(connected.out, /key owner: +Priya Raman \(Cliniko user 836447129235810001\)/);
  t.notOk(connected.out.includes(key));

  const status = await cli(app.env, ['cliniko', 'status', 'acme', '--json']);
  const summary = JSON.parse(status.out) as Record<string, unknown>;
  t.match(summary, { tenant: 'acme', connected: true, shard: 'au1', accountId: '836447129235800001', accountSubdomain: 'fitzroy-physio', keyReadable: true, keyNeedsRotation: false, connectedBy: 'cli' });
  t.notOk(status.out.includes(key), 'status never shows the key');

  const page = await app.view(EXAMPLE_ID);
  t.equal(page.status, 200, 'the clinic can open patients');

  const disconnected = await cli(app.env, ['cliniko', 'disconnect', 'acme']);
  t.match(disconnected.out, /no longer connected/);
  t.match((await cli(app.env, ['cliniko', 'status', 'acme'])).out, /not connected to Cliniko \(sidechart cliniko connect acme --key-stdin\)/);
  const unknown = await app.view(DEMO_PATIENT_IDS.survivor);
  t.equal(unknown.status, 503);
  t.match(textOf(unknown.body), /has not connected Sidechart to its Cliniko account/);
  const held = await app.view(EXAMPLE_ID);
  t.equal(held.status, 200, 'held records stay readable after disconnecting');
});

t.test('the API key is not readable in the database, the logs or the pages', async (t) => {
  const captured = captureLogs('debug');
  const logger = captured.logger;
  const logText = () => captured.lines.map((line) => JSON.stringify(line)).join('\n');
  const app = await startPatientApp(t, { loggerInstance: logger, env: { PATIENT_FRESH_SECONDS: '0', PATIENT_SYNC_RETRY_SECONDS: '0' } });
  const key = app.demo.apiKey;
  const secrets = [key, key.slice(0, 24), Buffer.from(`${key}:`).toString('base64'), Buffer.from(key).toString('base64')];

  // Exercise the paths that use the key: fetches, a refusal, failures with pages.
  t.equal((await app.view(EXAMPLE_ID)).status, 200);
  const wrongShardKey = key.replace(/-au1$/, '-au2');
  await app.clinic.db.updateTable('cliniko_connection').set({ api_key_sealed: app.box.seal(wrongShardKey, apiKeyAad(app.clinic.schemaName)) }).execute();
  const refusedPage = await app.view(EXAMPLE_ID);
  const unknownPage = await app.view(DEMO_PATIENT_IDS.survivor);
  secrets.push(wrongShardKey, Buffer.from(`${wrongShardKey}:`).toString('base64'));
  app.sim.setFault({ status: 500 });
  const failingPage = await app.view(EXAMPLE_ID);
  await app.clinic.db.updateTable('cliniko_connection').set({ api_key_sealed: app.box.seal(key, apiKeyAad(app.clinic.schemaName)) }).execute();

  // Every row of every table in this test's database, as text.
  const pool = app.runtime.databases.controlPool;
  const tables = await pool.query<{ table_schema: string; table_name: string }>(
    "select table_schema, table_name from information_schema.tables where table_schema not in ('pg_catalog', 'information_schema') and table_type = 'BASE TABLE'",
  );
  let dump = '';
  for (const { table_schema: schema, table_name: table } of tables.rows) {
    const rows = await pool.query(`select row_to_json(t)::text as row from "${schema}"."${table}" t`);
    dump += rows.rows.map((r: { row: string }) => r.row).join('\n');
  }
  t.ok(dump.includes('cliniko_user_name'), 'the dump covers the connection table');
  t.match(dump, /"api_key_sealed":"v1\.test1\./, 'the key is stored sealed');

  for (const secret of secrets) {
    t.notOk(dump.includes(secret), 'not in the database');
    t.notOk(logText().includes(secret), 'not in the logs');
    for (const page of [refusedPage, unknownPage, failingPage]) t.notOk(page.body.includes(secret), `not in the ${page.status} page`);
  }
  t.ok(logText().includes('patient_refresh_failed'), 'the failures were logged (without the key)');
});

t.test('rotation: re-sealed on read, or by `sidechart cliniko rekey`', async (t) => {
  const app = await startPatientApp(t);
  const oldSpec = app.env.SIDECHART_ENCRYPTION_KEYS!;
  const rotated = createSecretBox(parseKeyring(`${generateKeySpec('k2')},${oldSpec}`));
  const sealed = async () => (await app.clinic.db.selectFrom('cliniko_connection').select('api_key_sealed').executeTakeFirstOrThrow()).api_key_sealed;

  t.equal((await clinikoStatus(app.clinic, rotated))?.keyNeedsRotation, true, 'sealed under the old primary');
  const credentials = await loadClinikoCredentials(app.clinic, rotated);
  t.same(credentials, { status: 'connected', apiKey: app.demo.apiKey, shard: 'au1' });
  t.match(await sealed(), /^v1\.k2\./, 're-sealed under the new primary when read');

  // And by the CLI: back to a keyring whose primary is test1 again.
  const env = { ...app.env, SIDECHART_ENCRYPTION_KEYS: `${oldSpec},${generateKeySpec('k3')}` };
  t.match((await cli(env, ['cliniko', 'status', 'acme'])).out, /key: +CANNOT BE OPENED/, 'k2 is not in this keyring');
  const backEnv = { ...app.env, SIDECHART_ENCRYPTION_KEYS: `${generateKeySpec('k4')},${oldSpec}` };
  await app.clinic.db.updateTable('cliniko_connection').set({ api_key_sealed: app.box.seal(app.demo.apiKey, apiKeyAad(app.clinic.schemaName)) }).execute();
  const rekey = await cli(backEnv, ['cliniko', 'rekey', 'acme']);
  t.equal(rekey.code, 0, rekey.err);
  t.match(rekey.out, /acme: re-sealed under the primary key/);
  t.match(await sealed(), /^v1\.k4\./);
  t.match((await cli(backEnv, ['cliniko', 'rekey', '--all'])).out, /acme: already current/);
  t.equal((await cli(backEnv, ['cliniko', 'rekey'])).code, 2, 'a clinic or --all is needed (usage)');

  // A key that cannot be opened at all: the page says an admin must reconnect.
  await app.clinic.db.updateTable('cliniko_connection').set({ api_key_sealed: rotated.seal(app.demo.apiKey, apiKeyAad(app.clinic.schemaName)).replace('v1.k2.', 'v1.gone.') }).execute();
  const page = await app.view(DEMO_PATIENT_IDS.survivor);
  t.equal(page.status, 503);
  t.match(textOf(page.body), /cannot read the stored Cliniko API key/);
});

t.test('a sealed key copied to another clinic does not open there', async (t) => {
  const app = await startPatientApp(t);
  const other = await app.runtime.tenants.create({ slug: 'copycat' });
  const otherDb = scopeToTenant(app.runtime.databases.regions.get(other.regionId)!, other.schemaName);
  const row = await app.clinic.db.selectFrom('cliniko_connection').selectAll().executeTakeFirstOrThrow();
  await otherDb.insertInto('cliniko_connection').values({ ...row, id: undefined }).execute();
  const status = await clinikoStatus({ db: otherDb, schemaName: other.schemaName }, app.box);
  t.equal(status?.keyReadable, false);
  const credentials = await loadClinikoCredentials({ db: otherDb, schemaName: other.schemaName }, app.box);
  t.equal(credentials.status, 'unreadable');
});
