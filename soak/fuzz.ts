// Hostile-input fuzzing of a listening Sidechart over raw sockets (wire.ts): seeded cases
// (fuzz-cases.ts), and the properties every answer must keep (checkAnswer): an answer arrives
// within the deadline, no 5xx (but the patient page's deliberate "Cliniko is not connected" 503
// for an ID the clinic does not hold), no stack trace, nothing of a clinic the request does not
// legitimately name, no redirect off the clinic's host, no cookie with a Domain attribute, no
// header the request tried to inject.
import { foreignClinics } from './clinics.ts';
import { buildCase, INJECTED_COOKIE, INJECTED_HEADER, type FuzzCase, type FuzzTarget } from './fuzz-cases.ts';
import { exchange, header, headers as headerValues, type Exchange } from './wire.ts';

export type ViolationKind = 'hang' | 'no answer' | '5xx' | 'stack trace' | 'foreign data' | 'off-host redirect' | 'Domain cookie' | 'injected header';

export interface Violation {
  kind: ViolationKind;
  detail: string;
}

/** What the patient page answers, on purpose, for a well-formed ID a clinic without Cliniko does not hold. */
const NOT_CONNECTED = '<h1>Cliniko is not connected</h1>';

const STACK_TRACE = [
  /\n\s+at (?:async )?\S[^\n]*:\d+:\d+\)?/, // a V8 frame with a location
  /node:internal\//,
  /[\w/.-]+\.(?:ts|js|mjs|cjs):\d+:\d+/,
  /"stack"\s*:/,
];

export function isStackTrace(text: string): boolean {
  return STACK_TRACE.some((re) => re.test(text));
}

/** Why a Location header leaves the clinic the request names, or null when it stays. */
export function offHostRedirect(location: string, allowed: readonly string[], baseDomain: string): string | null {
  const probe = 'probe.invalid';
  let url: URL;
  try {
    url = new URL(location, `http://${probe}/`);
  } catch {
    return `unparseable Location ${JSON.stringify(location.slice(0, 80))}`;
  }
  if (url.host === probe) return null; // a path on the same host
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `Location with scheme ${url.protocol}`;
  if (allowed.some((slug) => url.hostname === `${slug}.${baseDomain}`)) return null;
  return `Location to ${url.host}`;
}

/** Every property the answer to `fuzzCase` breaks. */
export function checkAnswer(fuzzCase: FuzzCase, outcome: Exchange, target: { baseDomain: string; knownSlugs: ReadonlySet<string> }): Violation[] {
  if (outcome.kind === 'timeout') return [{ kind: 'hang', detail: `no complete answer (${outcome.received} bytes received)` }];
  if (outcome.kind === 'closed') return fuzzCase.mayClose ? [] : [{ kind: 'no answer', detail: `connection closed after ${outcome.received} bytes` }];
  const { response } = outcome;
  const violations: Violation[] = [];
  // A HEAD has no body to tell: its 503 is that page's when it lacks the Retry-After that every
  // refusal for lack of capacity carries (overloaded, database unavailable, clinic being set up).
  const designed = response.status === 503 && (response.body.includes(NOT_CONNECTED) || (fuzzCase.method === 'HEAD' && header(response, 'retry-after') === undefined));
  if (response.status >= 500 && !designed) {
    violations.push({ kind: '5xx', detail: `${response.status}: ${response.body.slice(0, 160)}` });
  }
  if (isStackTrace(response.body)) violations.push({ kind: 'stack trace', detail: response.body.slice(0, 300) });
  const everything = `${response.body}\n${response.headers.map(([n, v]) => `${n}: ${v}`).join('\n')}`;
  const foreign = foreignClinics(everything, fuzzCase.allowed, target.knownSlugs);
  if (foreign.length > 0) violations.push({ kind: 'foreign data', detail: `shows ${foreign.join(', ')} (may show: ${fuzzCase.allowed.join(', ') || 'no clinic'})` });
  const location = header(response, 'location');
  if (location !== undefined) {
    const off = offHostRedirect(location, fuzzCase.allowed, target.baseDomain);
    if (off) violations.push({ kind: 'off-host redirect', detail: off });
  }
  for (const line of headerValues(response, 'set-cookie')) {
    if (/;\s*domain\s*=/i.test(line)) violations.push({ kind: 'Domain cookie', detail: line.slice(0, 160) });
    if (line.trimStart().toLowerCase().startsWith(`${INJECTED_COOKIE}=`)) violations.push({ kind: 'injected header', detail: `Set-Cookie: ${line.slice(0, 80)}` });
  }
  if (header(response, INJECTED_HEADER) !== undefined) violations.push({ kind: 'injected header', detail: `${INJECTED_HEADER}: ${header(response, INJECTED_HEADER)}` });
  return violations;
}

export interface FuzzFailure {
  fuzzCase: FuzzCase;
  answer: string;
  violations: Violation[];
}

/**
 * Bugs found by the fuzz in code this harness may not change, counted apart (not as failures)
 * until their owners fix them; the report still names every case they cover.
 */
export const KNOWN_ISSUES: readonly { id: string; description: string; matches(failure: FuzzFailure): boolean }[] = [
  // None open. (nul-in-sign-in-email: a NUL in the sign-in e-mail reached PostgreSQL as a throttle
  // key and gave a 500; fixed in src/auth/users.ts and password/clinic-host-routes.ts.)
];

export interface FuzzReport {
  seed: number;
  cases: number;
  durationMs: number;
  /** Answers by status (`closed`, `timeout` when there was none). */
  statuses: Record<string, number>;
  families: Record<string, number>;
  /** Cases breaking each property. */
  violations: Partial<Record<ViolationKind, number>>;
  /** The first failing cases (up to `keepFailures`). */
  failures: FuzzFailure[];
  failedCases: number;
  /** Cases that failed by a known issue (KNOWN_ISSUES), by id, with the first of each. */
  known: Record<string, { cases: number; first: FuzzFailure }>;
  /** Patient pages served (200 with a patient's name): each must have its audit event. */
  patientPagesServed: number;
}

export interface FuzzOptions {
  target: FuzzTarget;
  seed: number;
  cases: number;
  /** Case numbers to run instead of 0..cases-1 (replaying failures). */
  only?: readonly number[];
  concurrency: number;
  timeoutMs: number;
  keepFailures?: number;
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const { target, seed } = options;
  const indexes = options.only ?? Array.from({ length: options.cases }, (_, i) => i);
  const knownSlugs = new Set(target.clinics.map((c) => c.slug));
  const report: FuzzReport = { seed, cases: indexes.length, durationMs: 0, statuses: {}, families: {}, violations: {}, failures: [], failedCases: 0, known: {}, patientPagesServed: 0 };
  const keep = options.keepFailures ?? 20;
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(options.concurrency, indexes.length) }, async () => {
      while (next < indexes.length) {
        const fuzzCase = buildCase(target, seed, indexes[next++]!);
        const outcome = await exchange(target.port, fuzzCase.bytes, { timeoutMs: options.timeoutMs, head: fuzzCase.method === 'HEAD' });
        const status = outcome.kind === 'response' ? String(outcome.response.status) : outcome.kind;
        report.statuses[status] = (report.statuses[status] ?? 0) + 1;
        report.families[fuzzCase.family] = (report.families[fuzzCase.family] ?? 0) + 1;
        if (outcome.kind === 'response' && outcome.response.status === 200 && outcome.response.body.includes('id="patient-name"')) report.patientPagesServed++;
        const violations = checkAnswer(fuzzCase, outcome, { baseDomain: target.baseDomain, knownSlugs });
        if (violations.length === 0) continue;
        const failure = { fuzzCase, answer: status, violations };
        const known = KNOWN_ISSUES.find((issue) => issue.matches(failure));
        if (known) {
          const entry = (report.known[known.id] ??= { cases: 0, first: failure });
          entry.cases++;
          continue;
        }
        report.failedCases++;
        for (const kind of new Set(violations.map((v) => v.kind))) report.violations[kind] = (report.violations[kind] ?? 0) + 1;
        if (report.failures.length < keep) report.failures.push(failure);
      }
    }),
  );
  report.durationMs = performance.now() - started;
  return report;
}

/** Bytes as one readable line: escapes, long runs shortened (`x×20000`), capped. */
export function describeBytes(bytes: Buffer, max = 400): string {
  const escaped = JSON.stringify(bytes.toString('latin1')).slice(1, -1).replace(/(.)\1{15,}/g, (run, ch: string) => `${ch}×${run.length}`);
  return escaped.length > max ? `${escaped.slice(0, max)}… (${bytes.length} bytes)` : escaped;
}

/** A failing case in a few lines; `replay` says how to run that case alone. */
export function formatFailure(failure: FuzzFailure, replay: (index: number) => string): string {
  const { fuzzCase } = failure;
  return [
    `case ${fuzzCase.index} [${fuzzCase.family}] ${fuzzCase.label} -> ${failure.answer}`,
    ...failure.violations.map((v) => `  ${v.kind}: ${v.detail.replace(/\s+/g, ' ').slice(0, 300)}`),
    `  request: ${describeBytes(fuzzCase.bytes)}`,
    `  replay: ${replay(fuzzCase.index)}`,
  ].join('\n');
}
