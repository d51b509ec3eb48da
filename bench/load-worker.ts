// The load generator of the bench scenarios, in a process of its own (started by bench/load.ts):
// autocannon's programmatic API with a list of requests that every connection cycles through
// (different hosts and cookies, which the autocannon command line cannot do). Reads its job as JSON
// from the file named in argv[2]. Prints one JSON line `{"started":true}` just before loading and one
// `{"result":…}` at the end, then stays alive until its stdin closes, so that the parent can read
// this process's CPU time in /proc over exactly the measured seconds.
import { readFile } from 'node:fs/promises';
import autocannon from 'autocannon';
import type { LoadJob, LoadResult } from './load.ts';

const job = JSON.parse(await readFile(process.argv[2]!, 'utf8')) as LoadJob;
process.stdout.write(`${JSON.stringify({ started: true })}\n`);
const result = await autocannon({ url: job.url, connections: job.connections, duration: job.duration, requests: job.requests });
const statusCodes: Record<string, number> = {};
for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stats.count ?? 0;
const summary: LoadResult = {
  requestsPerSecond: result.requests.average,
  p50: result.latency.p50,
  p99: result.latency.p99,
  non2xx: result.non2xx,
  errors: result.errors,
  total: result.requests.total,
  statusCodes,
};
process.stdout.write(`${JSON.stringify({ result: summary })}\n`);
// Stdin ends when the parent has sampled /proc (or when it is not a pipe, at once).
for await (const _chunk of process.stdin);
