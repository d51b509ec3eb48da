// `sidechart tenants export` and `tenants import`, as an SRE would run them: a clinic with real rows
// in every table to a file and back as a new clinic (in another region, on another server), and
// every way an archive can be wrong refused with nothing left behind.
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import pg from 'pg';
import tar from 'tar-stream';
import { sql } from 'kysely';
import { loadConfig } from '../../src/config.ts';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import { apiKeyAad } from '../../src/cliniko/connection.ts';
import { generateKeySpec } from '../../src/infra/crypto.ts';
import { clientSecretAad } from '../../src/auth/sso/settings.ts';
import { latestVersion, tenantMigrations } from '../../src/tenancy/migrations.ts';
import { readLayout } from '../../src/tenancy/snapshot.ts';
import { exportClinicArchive } from '../../src/tenancy/archive.ts';
import { cli, testEnv } from '../helpers/app.ts';
import { addUser, openClinic } from '../helpers/fixtures.ts';
import { startRegionServer } from '../helpers/region-server.ts';

const silent = { info() {}, warn() {}, error() {} };
const API_KEY = 'MS0xLTE-au1';
const OIDC_SECRET = 'oidc-client-secret';

/** Real rows in every table, with the text COPY must escape (tabs, newlines, backslashes, non-ASCII). */
async function seedClinic(runtime: Runtime, slug: string, auditRows: number): Promise<void> {
  const clinic = await openClinic(runtime, slug);
  const { db, schemaName } = clinic;
  const box = runtime.secrets.box;
  const admin = await addUser(runtime, slug, { email: `admin@${slug}.example`, role: 'admin', name: 'Ada \\ "Admin"' });
  const staff = await addUser(runtime, slug, { email: `staff@${slug}.example`, name: 'Zoë\tStaff' });
  const gone = await addUser(runtime, slug, { email: `gone@${slug}.example` });
  await db.deleteFrom('users').where('id', '=', gone.id).execute();
  await db.insertInto('user_identities').values({ user_id: staff.id, issuer: 'https://idp.example', subject: 'sub-1' }).execute();
  await db.updateTable('auth_settings').set({
    oidc_issuer: 'https://idp.example', oidc_client_id: 'client', allowed_email_domains: [`${slug}.example`],
    oidc_client_secret_sealed: box.seal(OIDC_SECRET, clientSecretAad(schemaName)),
  }).where('id', '=', true).execute();
  await db.insertInto('sessions').values({ id: `local.${schemaName}.abc`, data: JSON.stringify({ userId: admin.id }), expires_at: new Date(Date.now() + 3_600_000) }).execute();
  for (const [i, name] of ['Plain', 'Tab\there', 'Line\nbreak', 'Back\\slash', 'Ünïcødé 病人', '\\N'].entries()) {
    await db.insertInto('patients').values({ cliniko_id: String(1000 + i), first_name: name, last_name: `Last${i}`, data: JSON.stringify({ id: 1000 + i, name }), date_of_birth: i % 2 ? '1980-02-29' : null }).execute();
    await db.insertInto('patient_notes').values({ patient_id: String(1000 + i), author_user_id: staff.id, author_name: 'Ada', body: `Note: ${name}` }).execute();
  }
  await sql`insert into ${sql.id(schemaName, 'audit_events')} (user_id, patient_id, action, outcome, detail, occurred_at)
            select ${admin.id}::bigint, 1000 + g % 6, 'view', 'ok', 'row ' || g, now() - g * interval '1 minute' from generate_series(1, ${auditRows}) g`.execute(db);
  await db.insertInto('cliniko_connection').values({ api_key_sealed: box.seal(API_KEY, apiKeyAad(schemaName)), shard: 'au1', account_id: '42', connected_by: 'test' }).execute();
  await db.insertInto('invitations').values({ email: `new@${slug}.example`, role: 'staff', token_hash: `hash-${slug}`, invited_by_name: 'Ada', expires_at: new Date(Date.now() + 86_400_000) }).execute();
}

/**
 * Every row of every table as JSON, sorted. Sealed secrets are opened (an import seals them again
 * for the new schema, so their ciphertext differs by design); nothing else is left out.
 */
async function allRows(runtime: Runtime, slug: string): Promise<Record<string, string[]>> {
  const clinic = await openClinic(runtime, slug);
  const pool = runtime.databases.regions.get(clinic.tenant.regionId)!.pool;
  const box = runtime.secrets.box;
  const client = await pool.connect();
  try {
    const out: Record<string, string[]> = {};
    for (const table of await readLayout(client, clinic.schemaName)) {
      const { rows } = await client.query<{ r: Record<string, unknown> }>(`select to_jsonb(t) as r from ${clinic.schemaName}.${pg.escapeIdentifier(table.name)} t`);
      out[table.name] = rows
        .map(({ r }) => {
          if (typeof r.api_key_sealed === 'string') r.api_key_sealed = box.open(r.api_key_sealed, apiKeyAad(clinic.schemaName));
          if (typeof r.oidc_client_secret_sealed === 'string') r.oidc_client_secret_sealed = box.open(r.oidc_client_secret_sealed, clientSecretAad(clinic.schemaName));
          return JSON.stringify(r);
        })
        .sort();
    }
    return out;
  } finally {
    client.release();
  }
}

/** Rewrites an archive entry by entry (the test archives are small). */
async function rewriteArchive(from: string, to: string, edit: (name: string, body: Buffer) => Buffer | null): Promise<void> {
  const extract = tar.extract();
  const pack = tar.pack();
  const entries: { name: string; body: Buffer }[] = [];
  Readable.from([gunzipSync(await readFile(from))]).pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    entries.push({ name: entry.header.name, body: Buffer.concat(chunks) });
  }
  for (const { name, body } of entries) {
    const edited = edit(name, body);
    if (edited !== null) pack.entry({ name, size: edited.length }, edited);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  await writeFile(to, gzipSync(Buffer.concat(chunks)));
}

async function setup(t: Test) {
  const second = await startRegionServer(t);
  const env = await testEnv(t, { SIDECHART_REGIONS: `second=${second.url}`, PASSWORD_HASH_MEMORY_KIB: '64' });
  const runtime = await createRuntime({ config: loadConfig(env), log: silent, applicationName: 'archive-test', migrate: true });
  t.teardown(() => runtime.close());
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidechart-archive-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const created = await cli(env, ['tenants', 'create', 'acme', '--name', 'Acme Physio']);
  t.equal(created.code, 0, created.err);
  await seedClinic(runtime, 'acme', 20_000);
  const file = path.join(dir, 'acme.tar.gz');
  const exported = await cli(env, ['tenants', 'export', 'acme', '--out', file, '--json']);
  t.equal(exported.code, 0, exported.err);

  /** Tenant schemas in both regions and the control rows: what "nothing left behind" compares. */
  const footprint = async () => {
    const schemas: string[] = [];
    for (const region of runtime.databases.regions.values()) {
      const { rows } = await region.pool.query<{ s: string }>(`select nspname as s from pg_namespace where nspname ~ '^t_[0-9]+$' order by 1`);
      schemas.push(...rows.map((r) => `${region.id}:${r.s}`));
    }
    const tenants = (await runtime.databases.controlPool.query<{ slug: string }>('select slug from control.tenants order by slug')).rows.map((r) => r.slug);
    return { schemas, tenants };
  };
  return { env, runtime, dir, file, exported: JSON.parse(exported.out) as { rows: number; tables: number; seconds: number; bytes: number }, footprint };
}

t.test('export then import (into another region, on another server) gives a new clinic with the same rows', async (t) => {
  const { env, runtime, dir, file, exported } = await setup(t);
  t.equal(exported.tables, 9);
  t.ok(exported.rows > 20_000);
  t.equal((await stat(file)).mode & 0o777, 0o600, 'the archive is readable by its owner only');
  t.same((await readdir(dir)).sort(), ['acme.tar.gz'], 'no .partial or spool files left');

  const again = await cli(env, ['tenants', 'export', 'acme', '--out', file]);
  t.equal(again.code, 1);
  t.match(again.err, /already exists/);

  const unknown = await cli(env, ['tenants', 'export', 'nobody', '--out', path.join(dir, 'nobody.tar.gz')]);
  t.equal(unknown.code, 1);
  t.match(unknown.err, /no clinic "nobody"/);
  t.same((await readdir(dir)).sort(), ['acme.tar.gz'], 'a refused export writes nothing');

  const help = await cli(env, ['tenants', 'export', '--help']);
  t.match(help.out, /health data/);
  t.match(help.out, /same keys/);

  const imported = await cli(env, ['tenants', 'import', file, '--slug', 'acme-copy', '--region', 'second', '--json']);
  t.equal(imported.code, 0, imported.err);
  const result = JSON.parse(imported.out);
  t.comment(`${exported.rows} rows: export ${exported.seconds.toFixed(2)} s (${exported.bytes} bytes), import across servers ${result.seconds.toFixed(2)} s`);
  t.equal(result.tenant.slug, 'acme-copy');
  t.equal(result.tenant.displayName, 'Acme Physio', 'the exported name by default');
  t.equal(result.tenant.regionId, 'second');
  t.equal(result.tenant.status, 'active');
  t.equal(result.tenant.schemaVersion, await latestVersion(tenantMigrations()));
  t.equal(result.rows, exported.rows);
  t.equal(result.address, 'http://acme-copy.localhost:3000/');

  t.same(await allRows(runtime, 'acme-copy'), await allRows(runtime, 'acme'), 'every row of every table is the same');
  const copy = await openClinic(runtime, 'acme-copy');
  const key = await copy.db.selectFrom('cliniko_connection').select('api_key_sealed').executeTakeFirstOrThrow();
  t.equal(runtime.secrets.box.open(key.api_key_sealed, apiKeyAad(copy.schemaName)), API_KEY, 'the Cliniko key opens in the new clinic');

  // The clinic keeps serving during an export: a row written after the snapshot is not in the file,
  // and the file still imports (its rows match its manifest).
  const during = path.join(dir, 'during.tar.gz');
  const acme = await openClinic(runtime, 'acme');
  let write: Promise<unknown> | null = null;
  await exportClinicArchive({
    tenants: runtime.tenants, regions: runtime.databases.regions, slug: 'acme', file: during,
    onTable: () => (write ??= acme.db.insertInto('patients').values({ cliniko_id: '77', first_name: 'Late' }).execute()),
  });
  await write;
  t.equal((await cli(env, ['tenants', 'import', during, '--slug', 'acme-during'])).code, 0);
  const late = await (await openClinic(runtime, 'acme-during')).db.selectFrom('patients').select('cliniko_id').where('cliniko_id', '=', '77').execute();
  t.equal(late.length, 0, 'the row written after the snapshot is not in the archive');

  const human = await cli(env, ['tenants', 'import', file, '--slug', 'acme-two', '--name', 'Acme Two']);
  t.equal(human.code, 0, human.err);
  t.match(human.out, /imported clinic acme-two \(Acme Two\)/);
  t.match(human.out, /9 tables, \d+ rows in/);
  t.match(human.out, /address: http:\/\/acme-two\.localhost:3000\//);
});

t.test('refused imports leave no tenant and no schema behind', async (t) => {
  const { env, dir, file, footprint } = await setup(t);
  const before = await footprint();
  const bytes = await readFile(file);
  const refuse = async (archive: string, message: RegExp, slug = 'restored') => {
    const run = await cli(env, ['tenants', 'import', archive, '--slug', slug, '--region', 'second']);
    t.equal(run.code, 1, `${path.basename(archive)} refused`);
    t.match(run.err, message);
    t.same(await footprint(), before, 'nothing left behind');
  };

  await refuse(file, /the address "acme" is already taken/, 'acme');

  const truncated = path.join(dir, 'truncated.tar.gz');
  await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  await refuse(truncated, /cannot read the clinic archive .*truncated\.tar\.gz: it is truncated, damaged or not a Sidechart clinic archive/);

  const damaged = path.join(dir, 'damaged.tar.gz');
  const flipped = Buffer.from(bytes);
  flipped[Math.floor(flipped.length / 2)]! ^= 0xff;
  await writeFile(damaged, flipped);
  await refuse(damaged, /it is truncated, damaged or not a Sidechart clinic archive/);

  await refuse(path.join(dir, 'missing.tar.gz'), /cannot read the clinic archive .*: no such file/);

  const editManifest = (change: (m: Record<string, unknown>) => void) => (name: string, body: Buffer) => {
    if (name !== 'manifest.json') return body;
    const manifest = JSON.parse(body.toString());
    change(manifest);
    return Buffer.from(JSON.stringify(manifest));
  };
  const future = path.join(dir, 'future.tar.gz');
  await rewriteArchive(file, future, editManifest((m) => (m.formatVersion = 2)));
  await refuse(future, /archive format 2, and this version of Sidechart reads format 1/);

  const newer = path.join(dir, 'newer.tar.gz');
  await rewriteArchive(file, newer, editManifest((m) => (m.schemaVersion = '9999_from_the_future')));
  await refuse(newer, /schema version 9999_from_the_future, which this version of Sidechart does not know/);

  // Hand-edited rows: one the database refuses (an empty note breaks a check constraint) ...
  const badRow = path.join(dir, 'bad-row.tar.gz');
  await rewriteArchive(file, badRow, (name, body) => (name === 'tables/patient_notes.copy' ? Buffer.concat([body, Buffer.from('999\t1000\t\\N\tEve\t\t2024-01-01 00:00:00+00\n')]) : body));
  await refuse(badRow, /rows for table "patient_notes" were refused by the database \(.*check constraint/);

  // ... one it accepts but the manifest does not (a changed name) ...
  const changed = path.join(dir, 'changed.tar.gz');
  await rewriteArchive(file, changed, (name, body) => (name === 'tables/patients.copy' ? Buffer.from(body.toString().replace('Plain', 'Plane')) : body));
  await refuse(changed, /imported rows of table "patients" do not match the archive's manifest \(same 6 rows, different contents\)/);

  // ... and a table missing altogether.
  const missing = path.join(dir, 'no-users.tar.gz');
  await rewriteArchive(file, missing, (name, body) => (name === 'tables/audit_events.copy' ? null : body));
  await refuse(missing, /no rows entry for table "audit_events"/);

  // A deployment with other encryption keys cannot open the sealed secrets.
  const otherKeys = await cli({ ...env, SIDECHART_ENCRYPTION_KEYS: generateKeySpec('other') }, ['tenants', 'import', file, '--slug', 'restored']);
  t.equal(otherKeys.code, 1);
  t.match(otherKeys.err, /Cliniko API key cannot be opened with this deployment's encryption keys/);
  t.same(await footprint(), before, 'nothing left behind');

  const ok = await cli(env, ['tenants', 'import', file, '--slug', 'restored']);
  t.equal(ok.code, 0, 'the untouched archive still imports');
});

t.test('an import killed midway is not finished by `sidechart migrate`, and `tenants show` says what to do', async (t) => {
  const env = await testEnv(t, { PASSWORD_HASH_MEMORY_KIB: '64' });
  const runtime = await createRuntime({ config: loadConfig(env), log: silent, applicationName: 'archive-test', migrate: true });
  t.teardown(() => runtime.close());
  // The import stands still inside its build (as a process killed there would leave it).
  let building!: () => void;
  const inBuild = new Promise<void>((resolve) => (building = resolve));
  let finish!: (error: Error) => void;
  const held = new Promise<never>((_resolve, reject) => (finish = reject));
  const importing = runtime.tenants
    .createFrom({ slug: 'halfway' }, async () => {
      building();
      return held;
    }, { buildingFrom: 'the archive halfway.tar.gz' })
    .catch((error: Error) => error);
  await inBuild;

  const migrate = await cli(env, ['migrate', '--json']);
  t.equal(migrate.code, 0, migrate.err);
  t.notMatch(migrate.out, /halfway/, 'migrate leaves the half-imported clinic alone');
  t.match(await runtime.tenants.find('halfway'), { status: 'provisioning', buildingFrom: 'the archive halfway.tar.gz' });
  const show = await cli(env, ['tenants', 'show', 'halfway']);
  t.match(show.out, /being built: +from the archive halfway\.tar\.gz \(if that is no longer running, it was interrupted: sidechart tenants delete halfway && sidechart tenants purge halfway --force/);

  finish(new Error('killed'));
  t.match(await importing, { message: 'killed' });
  t.equal((await cli(env, ['tenants', 'show', 'halfway'])).code, 1, 'a failed import leaves nothing');
});
