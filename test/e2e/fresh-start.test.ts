// `npm start` on a fresh machine: no DATABASE_URL, so the embedded PostgreSQL starts under the data
// directory, migrations run, the demo clinic exists, /readyz answers; SIGTERM stops it cleanly; a
// second start reuses the same data. Also: a bad setting stops the process with one line.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { freePort } from '../helpers/net.ts';

function baseEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  return env;
}

/** Starts the server and resolves once it has printed its ready banner. */
function start(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; banner: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['src/server.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      if (out.includes('Demo clinic:')) resolve({ child, banner: out });
    });
    child.stderr!.on('data', (chunk) => (err += chunk));
    child.on('exit', (code) => reject(new Error(`server exited early (${code}): ${err}${out}`)));
  });
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.on('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

t.test('embedded default: boots, creates demo, answers readyz, restarts on the same data', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'sidechart-fresh-'));
  // As root, PostgreSQL runs as the `postgres` user, which must be able to enter the directory.
  await chmod(dataDir, 0o755);
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  const env = { ...baseEnv(), PORT: String(port), SIDECHART_DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()), LOG_LEVEL: 'warn', CLINIKO_SIMULATOR_PORT: String(await freePort()), METRICS_PORT: String(await freePort()) };

  for (const round of ['first start', 'restart']) {
    const { child, banner } = await start(env);
    t.match(banner, new RegExp(`http://demo\\.localhost:${port}/`), `${round}: prints the demo URL`);
    const ready = await request(`http://127.0.0.1:${port}/readyz`);
    t.equal(ready.statusCode, 200, `${round}: readyz`);
    t.same(await ready.body.json(), { status: 'ready' });
    const home = await request(`http://127.0.0.1:${port}/`, { headers: { host: `demo.localhost:${port}` } });
    t.equal(home.statusCode, 200, `${round}: the demo clinic answers`);
    t.match(await home.body.text(), /Demo Physio/);
    const metrics = await request(`http://127.0.0.1:${env.METRICS_PORT}/metrics`);
    t.equal(metrics.statusCode, 200, `${round}: metrics on their own port`);
    t.match(await metrics.body.text(), /sidechart_http_requests_total\{method="GET",route="\/",status_code="200",region="local"\} 1/);
    const notOnApp = await request(`http://127.0.0.1:${port}/metrics`, { headers: { host: `demo.localhost:${port}` } });
    t.equal(notOnApp.statusCode, 404, `${round}: not on clinic hosts`);
    await notOnApp.body.dump();
    t.equal(await stop(child), 0, `${round}: SIGTERM exits 0`);
  }
});

t.test('a bad setting stops the process with one line naming the variable', async (t) => {
  const cases: [Record<string, string>, string][] = [
    [{ PORT: '70000' }, 'PORT: must be a whole number from 1 to 65535 (got "70000")'],
    [{ BASE_DOMAIN: 'not a domain' }, 'BASE_DOMAIN: "not a domain" is not a host name'],
    [{ SIDECHART_ENV: 'staging' }, 'SIDECHART_ENV: must be one of development, production (got "staging")'],
    [{ SIDECHART_ENV: 'production', DATABASE_URL: 'postgres://x@127.0.0.1:1/x' }, 'SESSION_SECRET: is required in production'],
  ];
  for (const [vars, line] of cases) {
    const result = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(process.execPath, ['src/server.ts'], { env: { ...baseEnv(), ...vars }, stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (chunk) => (err += chunk));
      child.on('exit', (code) => resolve({ code, err }));
    });
    t.equal(result.code, 1, JSON.stringify(vars));
    t.equal(result.err.trim(), `sidechart: configuration error: ${line}`);
  }
});
