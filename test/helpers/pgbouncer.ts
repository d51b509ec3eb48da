// A real PgBouncer (Debian's package, installed by .ci/run) in transaction mode in front of the test
// PostgreSQL, on a free loopback port, for tests where pooling matters.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './net.ts';

export const PGBOUNCER = '/usr/sbin/pgbouncer';

export function pgbouncerAvailable(): boolean {
  return existsSync(PGBOUNCER);
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** Starts PgBouncer for `serverUrl`'s host; returns a function mapping a database URL through it. */
export async function startPgBouncer(t: Teardown, serverUrl: string, options: { poolSize?: number } = {}): Promise<{ through(url: string): string }> {
  const server = new URL(serverUrl);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidechart-pgbouncer-'));
  await chmod(dir, 0o777); // PgBouncer refuses to run as root; it runs as `nobody` below
  const port = await freePort();
  const ini = [
    '[databases]',
    `* = host=${server.hostname} port=${server.port || 5432}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    "unix_socket_dir =",
    'auth_type = trust',
    `auth_file = ${path.join(dir, 'userlist.txt')}`,
    'pool_mode = transaction',
    `default_pool_size = ${options.poolSize ?? 4}`,
    'max_client_conn = 500',
    'server_reset_query =',
    'ignore_startup_parameters = extra_float_digits,statement_timeout,application_name',
    `logfile = ${path.join(dir, 'pgbouncer.log')}`,
  ].join('\n');
  await writeFile(path.join(dir, 'pgbouncer.ini'), `${ini}\n`, { mode: 0o644 });
  await writeFile(path.join(dir, 'userlist.txt'), `"${decodeURIComponent(server.username || 'postgres')}" ""\n`, { mode: 0o644 });

  const args = [...(process.getuid?.() === 0 ? ['-u', 'nobody'] : []), '-v', path.join(dir, 'pgbouncer.ini')];
  const child: ChildProcess = spawn(PGBOUNCER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  });
  // Ready once it says it is listening (it logs to its logfile and to stderr).
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk;
      if (/listening on 127\.0\.0\.1:\d+|process up/.test(output)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`pgbouncer exited (${code}): ${output}`)));
  });
  return {
    through(url: string) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
  };
}
