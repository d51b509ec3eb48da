// A second PostgreSQL server for region tests: an embedded one (real server binaries) on a free
// port, its data under the OS temp dir, stopped and removed at teardown. The machine's server
// (DATABASE_URL) plays the first region and the control plane; this one a region of its own, so
// a test can stop it and see what an outage of one region does.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/infra/embedded-postgres.ts';
import { freePort } from './net.ts';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface RegionServer {
  /** URL of the `sidechart` database on this server (what SIDECHART_REGIONS names). */
  readonly url: string;
  /** Stops the server (an outage); `start` brings it back on the same data and port. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startRegionServer(t: Teardown): Promise<RegionServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'sidechart-region-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true })); // teardowns run last-registered first: this one last
  const port = await freePort();
  const boot = () => startEmbeddedPostgres({ dataDir, port, database: 'sidechart' });
  let server: EmbeddedDatabase | null = await boot();
  const url = server.url;
  t.teardown(() => server?.stop());
  return {
    url,
    async stop() {
      await server?.stop();
      server = null;
    },
    async start() {
      server ??= await boot();
    },
  };
}
