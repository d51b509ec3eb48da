// server.ts loads the development extras (src/dev/: demo seeding, the Cliniko simulator) only when
// configuration asks for them: a production process never loads that code at all.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { generateKeySpec } from '../src/infra/crypto.ts';
import { createTestDatabase } from './helpers/db.ts';
import { freePort } from './helpers/net.ts';

/** Starts server.ts, waits for its banner, stops it; returns the src/dev/ modules it resolved. */
async function devModulesLoadedBy(env: Record<string, string>): Promise<string[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidechart-modules-'));
  const record = path.join(dir, 'dev-modules.txt');
  try {
    const child = spawn(process.execPath, ['--import', './test/helpers/record-modules.mjs', 'src/server.ts'], {
      env: { PATH: process.env.PATH ?? '', ...env, RECORD_DEV_MODULES: record },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout!.on('data', (chunk) => {
        out += chunk;
        if (out.includes('Sidechart is running')) resolve();
      });
      child.stderr!.on('data', (chunk) => (err += chunk));
      child.on('exit', (code) => reject(new Error(`server exited early (${code}): ${err}${out}`)));
    });
    child.removeAllListeners('exit');
    await new Promise((resolve) => {
      child.on('exit', resolve);
      child.kill('SIGTERM');
    });
    return (await readFile(record, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

t.test('production does not load src/dev/; development does', async (t) => {
  const common = {
    DATABASE_URL: await createTestDatabase(t),
    SESSION_SECRET: 'x'.repeat(40),
    SIDECHART_ENCRYPTION_KEYS: generateKeySpec('k1'),
    LISTEN_HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    PASSWORD_HASH_MEMORY_KIB: '64',
  };
  const production = await devModulesLoadedBy({
    ...common,
    SIDECHART_ENV: 'production',
    REGION: 'local',
    PORT: String(await freePort()),
    METRICS_PORT: '0',
    CLINIKO_CONTACT_EMAIL: 'ops@sidechart.example',
    PASSWORD_HASH_MEMORY_KIB: '19456',
  });
  t.same(production, [], 'no module of src/dev/ was even resolved');

  // The same detector sees them when development asks for them, so the empty list above means something.
  const development = await devModulesLoadedBy({
    ...common,
    SIDECHART_ENV: 'development',
    PORT: String(await freePort()),
    METRICS_PORT: '0',
    CLINIKO_SIMULATOR_PORT: String(await freePort()),
  });
  t.ok(development.some((url) => url.endsWith('/src/dev/index.ts')), 'development loads src/dev/index.ts');
  t.ok(development.some((url) => url.endsWith('/src/dev/demo.ts')));
});
