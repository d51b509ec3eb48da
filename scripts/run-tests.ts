// `npm test` runs this after type checking: it gives tap a PostgreSQL. With DATABASE_URL set (CI,
// the machine's server) it is used as is; otherwise an embedded PostgreSQL is started for the run
// under .data/test-pg and stopped afterwards. Each test file then creates its own database on it.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { startEmbeddedPostgres } from '../src/infra/embedded-postgres.ts';

const args = process.argv.slice(2);
let stop: () => Promise<void> = async () => {};
// tap starts each test file with the `node` on PATH: make it the project's Node 24 however this runs.
const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${path.resolve('node_modules/.bin')}${path.delimiter}${process.env.PATH ?? ''}` };
if (!env.DATABASE_URL) {
  const embedded = await startEmbeddedPostgres({ dataDir: path.resolve('.data/test-pg'), port: Number(env.TEST_EMBEDDED_PG_PORT ?? 5489), database: 'postgres' });
  env.DATABASE_URL = embedded.adminUrl;
  stop = embedded.stop;
  process.stdout.write(`using embedded PostgreSQL for tests: ${embedded.adminUrl.replace(/:[^:@/]*@/, ':***@')}\n`);
}
const tap = spawn(path.resolve('node_modules/.bin/tap'), args, { stdio: 'inherit', env });
const code: number = await new Promise((resolve) => tap.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
await stop();
process.exit(code);
