// Development secrets: generated once, kept private under the data directory, reused after a
// restart; configuration wins; production never invents any.
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/config.ts';
import { parseKeyring } from '../../src/infra/crypto.ts';
import { DEV_SECRETS_FILE, resolveSecrets } from '../../src/infra/secrets.ts';

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidechart-secrets-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('generated once, mode 0600, the same after a restart', async (t) => {
  const dir = path.join(await tempDir(t), 'nested', 'data');
  const config = loadConfig({ SIDECHART_DATA_DIR: dir });
  const first = resolveSecrets(config);
  t.equal(first.file, path.join(dir, DEV_SECRETS_FILE));
  t.ok(first.sessionSecret.length >= 32);
  t.doesNotThrow(() => parseKeyring(first.encryptionKeys));
  t.equal((await stat(first.file!)).mode & 0o777, 0o600);
  t.same(resolveSecrets(config), first, 'a second start reads the same secrets');
  // Many processes starting at once agree on one set (the loser of the link race reads the winner's).
  const all = Array.from({ length: 5 }, () => resolveSecrets(loadConfig({ SIDECHART_DATA_DIR: dir })));
  for (const s of all) t.same(s, first);
});

t.test('configuration wins, per secret', async (t) => {
  const dir = await tempDir(t);
  const fromEnv = resolveSecrets(loadConfig({ SIDECHART_DATA_DIR: dir, SESSION_SECRET: 'e'.repeat(40) }));
  t.equal(fromEnv.sessionSecret, 'e'.repeat(40));
  t.doesNotThrow(() => parseKeyring(fromEnv.encryptionKeys), 'the other one is generated');
  const production = loadConfig({
    SIDECHART_ENV: 'production',
    REGION: 'local',
    DATABASE_URL: 'postgres://x@db/x',
    SESSION_SECRET: 'p'.repeat(40),
    SIDECHART_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 3).toString('base64')}`,
    CLINIKO_CONTACT_EMAIL: 'ops@example.com',
    SIDECHART_DATA_DIR: path.join(dir, 'prod'),
  });
  const secrets = resolveSecrets(production);
  t.same(secrets, { sessionSecret: 'p'.repeat(40), encryptionKeys: `k1:${Buffer.alloc(32, 3).toString('base64')}`, file: null });
  await t.rejects(stat(path.join(dir, 'prod')), 'nothing written in production');
});

t.test('an unwritable data directory gives per-process secrets; a broken file is an error', async (t) => {
  const unwritable = resolveSecrets(loadConfig({ SIDECHART_DATA_DIR: '/dev/null/sidechart' }));
  t.equal(unwritable.file, null);
  t.ok(unwritable.sessionSecret.length >= 32);

  const dir = await tempDir(t);
  await writeFile(path.join(dir, DEV_SECRETS_FILE), '{"sessionSecret": "short"}');
  t.throws(() => resolveSecrets(loadConfig({ SIDECHART_DATA_DIR: dir })), /not a valid development secrets file; delete it/);
});
