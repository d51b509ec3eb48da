// Sidechart as production runs it: `node src/server.ts` in a process of its own, for the tests
// where processes matter (several instances sharing the databases, SIGTERM). Ready when it prints
// its banner; its JSON log lines are kept and can be awaited (an event, never a sleep). Killed at
// teardown if the test left it running. Also: the Cliniko simulator and a connected clinic with a
// staff user, set up from the test process against the same database.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connectCliniko } from '../../src/cliniko/connection.ts';
import { createClinikoSimulator, seedDemo, type ClinikoSimulator, type DemoAccount } from '../../src/cliniko/simulator/index.ts';
import { loadConfig } from '../../src/config.ts';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import type { Clinic } from '../../src/tenancy/clinic.ts';
import { addUser, openClinic } from './fixtures.ts';
import { freePort } from './net.ts';

interface Teardown {
  teardown(fn: () => unknown): void;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type LogLine = Record<string, unknown> & { msg?: string; event?: string };

export interface ServerProcess {
  port: number;
  /** http://<slug>.localhost:<port> */
  origin(slug: string): string;
  /** Every JSON log line printed so far. */
  readonly logs: readonly LogLine[];
  /** The first log line, printed already or to come, that matches; rejects if the process exits first. */
  logged(match: (line: LogLine) => boolean): Promise<LogLine>;
  /** How the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
  /** Everything it wrote, for failure messages. */
  output(): string;
}

/** Starts `node src/server.ts` with this environment (and a free PORT) and waits for its banner. */
export async function startServer(t: Teardown, env: Record<string, string>): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['src/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', METRICS_PORT: '0', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let partial = '';
  const logs: LogLine[] = [];
  const waiters = new Set<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  let banner: () => void = () => {};
  const started = new Promise<void>((resolve) => (banner = resolve));

  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out = (out + chunk).slice(-200_000);
    if (out.includes('Sidechart is running')) banner();
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const text of lines) {
      if (!text.startsWith('{')) continue;
      const line = JSON.parse(text) as LogLine;
      logs.push(line);
      for (const waiter of waiters) {
        if (!waiter.match(line)) continue;
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err = (err + chunk).slice(-20_000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const output = () => `--- stdout (end) ---\n${out.slice(-4_000)}\n--- stderr ---\n${err}`;
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  });

  const early = exited.then(({ code, signal }) => {
    throw new Error(`server exited (code ${code}, signal ${signal}) before it was running:\n${output()}`);
  });
  await Promise.race([started, early]);
  early.catch(() => {});

  return {
    port,
    origin: (slug) => `http://${slug}.localhost:${port}`,
    logs,
    logged(match) {
      const seen = logs.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise<LogLine>((resolve, reject) => {
        const waiter = { match, resolve };
        waiters.add(waiter);
        void exited.then(({ code, signal }) => {
          if (waiters.delete(waiter)) reject(new Error(`server exited (code ${code}, signal ${signal}) before the awaited log line:\n${output()}`));
        });
      });
    },
    exited,
    kill: (signal) => child.kill(signal),
    output,
  };
}

export interface Simulator {
  sim: ClinikoSimulator;
  demo: DemoAccount;
  /** CLINIKO_API_BASE for a server that should talk to it. */
  apiBase: string;
}

/** The Cliniko simulator with the demo account, on a loopback port. `prepare` runs before it listens (hooks). */
export async function startSimulator(t: Teardown, prepare?: (sim: ClinikoSimulator) => void): Promise<Simulator> {
  const sim = createClinikoSimulator({ logger: false });
  const demo = seedDemo(sim);
  prepare?.(sim);
  const address = await sim.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => sim.close());
  return { sim, demo, apiBase: `http://api.{shard}.cliniko.localhost:${new URL(address).port}/v1` };
}

export interface ConnectedClinic {
  /** The test's own runtime on the servers' database (not listening): for set-up and for reading rows. */
  runtime: Runtime;
  clinic: Clinic;
  slug: string;
  user: { id: string; email: string };
}

/**
 * Clinic `acme` connected to the simulator's demo account, with staff user sam@acme.example (the
 * fixtures' password). Run after a server started: the server migrated the control plane.
 */
export async function connectedClinic(t: Teardown, env: Record<string, string>, demo: DemoAccount): Promise<ConnectedClinic> {
  const silent = { info: () => {}, warn: () => {}, error: () => {} };
  const runtime = await createRuntime({ config: loadConfig(env), log: silent, applicationName: 'sidechart-test' });
  t.teardown(() => runtime.close());
  const slug = 'acme';
  await runtime.tenants.create({ slug, displayName: 'Acme Physio' });
  const clinic = await openClinic(runtime, slug);
  await connectCliniko(clinic, { apiKey: demo.apiKey, connectedBy: 'test', client: runtime.cliniko, box: runtime.secrets.box, apiBase: runtime.config.cliniko.apiBase });
  const user = await addUser(runtime, slug, { email: 'sam@acme.example', name: 'Sam Carter' });
  return { runtime, clinic, slug, user: { id: user.id, email: user.email } };
}
