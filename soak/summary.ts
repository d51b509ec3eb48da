// One-line summaries of soak and fuzz runs, the same in the tests' output and in `npm run soak`.
import { KNOWN_ISSUES, type FuzzReport } from './fuzz.ts';
import type { IsolationReport } from './isolation.ts';

function counts(record: Record<string, number | undefined>): string {
  const entries = Object.entries(record).filter(([, n]) => n !== undefined && n > 0);
  return entries.length === 0 ? 'none' : entries.map(([k, n]) => `${k} ${n}`).join(', ');
}

function rate(n: number, ms: number): string {
  return `${n} in ${(ms / 1000).toFixed(1)} s (${Math.round(n / Math.max(ms / 1000, 0.001))}/s)`;
}

export function formatIsolation(name: string, report: IsolationReport, lostAudit: number): string {
  return `isolation, ${name}: ${rate(report.requests, report.durationMs)}; served ${report.served}; errors: ${counts(report.errors)}; foreign rows: ${report.foreignRows}; lost audit events: ${lostAudit}`;
}

export function formatFuzz(report: FuzzReport, lostAudit: number): string {
  const statuses = Object.entries(report.statuses)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, n]) => `${status}: ${n}`)
    .join(', ');
  return [
    `fuzz (seed ${report.seed}): ${rate(report.cases, report.durationMs)}; failed cases: ${report.failedCases}; violations: ${counts(report.violations)}; lost audit events: ${lostAudit}`,
    `  answers: ${statuses}`,
    `  families: ${counts(report.families)}`,
    ...Object.entries(report.known).map(([id, { cases }]) => `  known issue ${id}: ${cases} case(s), not counted as failures (${KNOWN_ISSUES.find((k) => k.id === id)?.description ?? ''})`),
  ].join('\n');
}

export interface MemorySample {
  rss: number;
  heapUsed: number;
}

export function memorySample(): MemorySample {
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
}

export function formatMemory(label: string, m: MemorySample): string {
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
  return `${label}: rss ${mib(m.rss)}, heap used ${mib(m.heapUsed)}`;
}
