// The load generator as the bench scenarios use it: autocannon in a child process of its own
// (bench/load-worker.ts), so it does not share the app's event loop, with the status codes it saw
// (autocannon's `non2xx` counts a 303 as a failure, and the anonymous button click succeeds with one).
//
// The worker says when it starts loading and, after printing its result, waits for its stdin to
// close: the caller can sample the worker's CPU in /proc over exactly the measured seconds.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface LoadRequest {
  method: 'GET';
  path: string;
  headers: Record<string, string>;
}

export interface LoadJob {
  url: string;
  connections: number;
  duration: number;
  /** Every connection cycles through these (different hosts and cookies are possible). */
  requests: LoadRequest[];
}

export interface LoadResult {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  non2xx: number;
  /** Socket errors and timeouts (no response at all). */
  errors: number;
  /** Responses received. */
  total: number;
  /** Responses by status code, e.g. { "200": 4012 }. */
  statusCodes: Record<string, number>;
}

export interface LoadHooks {
  /** The worker is about to send its first request. */
  onStart?: (generatorPid: number) => void;
  /** The last response is in; the worker is still alive until this returns. */
  onEnd?: (generatorPid: number) => void;
}

export async function load(job: LoadJob, hooks: LoadHooks = {}): Promise<LoadResult> {
  // A file rather than argv: a request list over 1,000 clinics, cookies included, exceeds argv limits.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidechart-load-'));
  try {
    const jobFile = path.join(dir, 'job.json');
    await writeFile(jobFile, JSON.stringify(job));
    return await new Promise<LoadResult>((resolve, reject) => {
      const child = spawn(process.execPath, [path.resolve('bench/load-worker.ts'), jobFile], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      let result: LoadResult | null = null;
      child.stderr.on('data', (d) => (err += d));
      // A worker that died early closes its stdin: the exit handler below reports it, not an EPIPE.
      child.stdin.on('error', () => {});
      child.stdout.on('data', (d) => {
        out += d;
        try {
          for (let newline = out.indexOf('\n'); newline >= 0; newline = out.indexOf('\n')) {
            const message = JSON.parse(out.slice(0, newline)) as { started: true } | { result: LoadResult };
            out = out.slice(newline + 1);
            if ('started' in message) hooks.onStart?.(child.pid!);
            else {
              result = message.result;
              hooks.onEnd?.(child.pid!);
              child.stdin.end();
            }
          }
        } catch (error) {
          child.kill();
          reject(error);
        }
      });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 && result ? resolve(result) : reject(new Error(`load worker failed (${code}): ${err}`))));
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
