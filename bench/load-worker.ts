// The load generator of bench/directory.ts, in a process of its own: autocannon's programmatic API
// with a list of requests that every connection cycles through (different hosts and cookies, which
// the autocannon command line cannot do). Reads its job as JSON from the file named in argv[2] and
// prints the result as JSON.
import { readFile } from 'node:fs/promises';
import autocannon from 'autocannon';

interface Job {
  url: string;
  connections: number;
  duration: number;
  requests: { method: 'GET'; path: string; headers: Record<string, string> }[];
}

const job = JSON.parse(await readFile(process.argv[2]!, 'utf8')) as Job;
const result = await autocannon({ url: job.url, connections: job.connections, duration: job.duration, requests: job.requests });
process.stdout.write(
  JSON.stringify({
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    total: result.requests.total,
  }),
);
