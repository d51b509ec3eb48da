// A real PgBouncer (Debian's package, installed by .ci/run) in transaction mode in front of the test
// PostgreSQL, on a free loopback port, for tests where pooling matters. Works with both test
// servers: the machine's (trust, no password in DATABASE_URL) and the embedded one (password).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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

/** PgBouncer's quoting for auth_file fields: double quotes, with `"` doubled. */
function quoted(value: string): string {
  return `"${value.replace(/"/g, '""')}"`;
}

/** uid and gid of `nobody`, the user PgBouncer runs as when the tests run as root (it refuses root). */
async function nobody(): Promise<{ uid: number; gid: number }> {
  const entry = (await readFile('/etc/passwd', 'utf8')).split('\n').find((line) => line.startsWith('nobody:'));
  const [, , uid, gid] = entry?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error('no `nobody` user in /etc/passwd to run pgbouncer as');
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * Starts PgBouncer for `serverUrl`'s host; returns a function mapping a database URL through it.
 * Clients authenticate to PgBouncer with the same user and password as to the server: with a
 * password in `serverUrl`, PgBouncer keeps it in plain text in its auth_file, checks clients with
 * SCRAM and answers whatever the server asks (password, md5 or SCRAM); without one, both hops trust.
 */
export async function startPgBouncer(t: Teardown, serverUrl: string, options: { poolSize?: number } = {}): Promise<{ through(url: string): string }> {
  const server = new URL(serverUrl);
  const user = decodeURIComponent(server.username || 'postgres');
  const password = decodeURIComponent(server.password);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidechart-pgbouncer-'));
  const port = await freePort();
  const ini = [
    '[databases]',
    `* = host=${server.hostname} port=${server.port || 5432}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    "unix_socket_dir =",
    `auth_type = ${password === '' ? 'trust' : 'scram-sha-256'}`,
    `auth_file = ${path.join(dir, 'userlist.txt')}`,
    'pool_mode = transaction',
    `default_pool_size = ${options.poolSize ?? 4}`,
    'max_client_conn = 500',
    'server_reset_query =',
    'ignore_startup_parameters = extra_float_digits,statement_timeout,application_name',
    `logfile = ${path.join(dir, 'pgbouncer.log')}`,
  ].join('\n');
  // The auth_file holds the password: readable by PgBouncer's user only.
  await writeFile(path.join(dir, 'pgbouncer.ini'), `${ini}\n`, { mode: 0o600 });
  await writeFile(path.join(dir, 'userlist.txt'), `${quoted(user)} ${quoted(password)}\n`, { mode: 0o600 });
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { uid, gid } = await nobody();
    for (const file of [dir, path.join(dir, 'pgbouncer.ini'), path.join(dir, 'userlist.txt')]) await chown(file, uid, gid);
  }

  const args = [...(asRoot ? ['-u', 'nobody'] : []), '-v', path.join(dir, 'pgbouncer.ini')];
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
    // Only the address changes: the user and password in `url` are the ones PgBouncer expects.
    through(url: string) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
  };
}
