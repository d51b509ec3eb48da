// CPU use of the three parties of a bench measurement — the app (this process), PostgreSQL and the
// load generator — read from /proc (Linux) over exactly the measured seconds: utime+stime of each
// process, in percent of one core (a 2-core machine has 200 %). "Other" is whatever else kept the
// machine busy in the same window (/proc/stat), which would make the ratios less trustworthy.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

/** Percent of one core, averaged over `seconds`. */
export interface CpuUse {
  seconds: number;
  app: number;
  postgres: number | null;
  generator: number;
  other: number;
}

/** CPU-seconds spent in one window (`seconds` long); windows add up (the rounds of a measurement). */
export interface CpuTime {
  seconds: number;
  app: number;
  postgres: number | null;
  generator: number;
  machineBusy: number;
}

interface ProcStat {
  comm: string;
  ppid: number;
  /** utime+stime (all threads). */
  ticks: number;
  /** cutime+cstime: the time of the children it reaped (see postgresTicks). */
  childTicks: number;
}

function readStat(pid: number): ProcStat | null {
  let line: string;
  try {
    line = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name is in parentheses and may itself hold spaces or parentheses.
  const close = line.lastIndexOf(')');
  const comm = line.slice(line.indexOf('(') + 1, close);
  const fields = line.slice(close + 2).split(' ');
  // After the name: state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
  const n = (i: number) => Number(fields[i]);
  return { comm, ppid: n(1), ticks: n(11) + n(12), childTicks: n(13) + n(14) };
}

/** Busy ticks of the whole machine, all cores (/proc/stat, the same unit as /proc/<pid>/stat). */
function machineBusyTicks(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu;
  return user + nice + system + irq + softirq + steal;
}

function clockTicksPerSecond(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

export interface CpuMeter {
  /** How PostgreSQL's processes were found, for the report. */
  postgresFound: string;
  start(generatorPid: number): { stop(): CpuTime };
}

/**
 * A meter, or null when /proc cannot be read (not Linux, or hidden). PostgreSQL is the postmaster
 * that runs `backendPid` and its children when that backend is visible here (other PostgreSQL
 * servers on the machine, such as a test run's embedded one, are not counted); otherwise every
 * process whose name starts with "postgres"; `postgres` is null when there is none (a server on
 * another machine or container).
 */
export function createCpuMeter(options: { backendPid: number | null }): CpuMeter | null {
  if (!existsSync('/proc/self/stat') || !existsSync('/proc/stat')) return null;
  const hz = clockTicksPerSecond();
  const backend = options.backendPid === null ? null : readStat(options.backendPid);
  const postmaster = backend && backend.comm.startsWith('postgres') ? backend.ppid : null;
  const isPostgres = (pid: number, stat: ProcStat) =>
    postmaster !== null ? pid === postmaster || stat.ppid === postmaster : stat.comm.startsWith('postgres');

  /**
   * PostgreSQL's ticks, all processes together, or null if there is none. A backend that exits
   * during the window (the app's pool recycles connections: DB_MAX_USES) takes its time with it, but
   * the postmaster reaps it and that time moves to the postmaster's cutime/cstime: counting those
   * too, the difference of two sums is exact (a backend born in the window counts whole).
   */
  function postgresTicks(): number | null {
    let ticks = 0;
    let found = false;
    for (const entry of readdirSync('/proc')) {
      const pid = Number(entry);
      if (!Number.isInteger(pid)) continue;
      const stat = readStat(pid);
      if (stat && isPostgres(pid, stat)) {
        ticks += stat.ticks + stat.childTicks;
        found = true;
      }
    }
    return found ? ticks : null;
  }

  return {
    postgresFound:
      postmaster !== null
        ? `the postmaster (pid ${postmaster}) of the bench's server and its children`
        : 'every process named postgres* (the bench connection\'s backend is not visible here)',
    start(generatorPid) {
      const startedAt = performance.now();
      const app = readStat(process.pid)?.ticks ?? 0;
      const generator = readStat(generatorPid)?.ticks ?? 0;
      const postgres = postgresTicks();
      const busy = machineBusyTicks();
      return {
        stop() {
          const seconds = (performance.now() - startedAt) / 1000;
          const appNow = readStat(process.pid)?.ticks ?? app;
          const generatorNow = readStat(generatorPid)?.ticks ?? generator;
          const postgresNow = postgresTicks();
          const toSeconds = (ticks: number) => ticks / hz;
          return {
            seconds,
            app: toSeconds(appNow - app),
            generator: toSeconds(generatorNow - generator),
            postgres: postgres === null || postgresNow === null ? null : toSeconds(postgresNow - postgres),
            machineBusy: toSeconds(machineBusyTicks() - busy),
          };
        },
      };
    },
  };
}

/** Several windows as one (CPU-seconds add up, so do the seconds). */
export function addTimes(windows: CpuTime[]): CpuTime | null {
  if (windows.length === 0) return null;
  return windows.reduce((a, b) => ({
    seconds: a.seconds + b.seconds,
    app: a.app + b.app,
    generator: a.generator + b.generator,
    postgres: a.postgres === null || b.postgres === null ? null : a.postgres + b.postgres,
    machineBusy: a.machineBusy + b.machineBusy,
  }));
}

export function cpuUse(time: CpuTime): CpuUse {
  const percent = (cpuSeconds: number) => (100 * cpuSeconds) / time.seconds;
  const known = time.app + time.generator + (time.postgres ?? 0);
  return {
    seconds: time.seconds,
    app: percent(time.app),
    postgres: time.postgres === null ? null : percent(time.postgres),
    generator: percent(time.generator),
    other: Math.max(0, percent(time.machineBusy - known)),
  };
}

/** `app 95%, PostgreSQL 60%, generator 40%, other 2% (of 200% on 2 cores)` */
export function formatCpu(use: CpuUse, cores = os.cpus().length): string {
  const p = (n: number) => `${n.toFixed(0)}%`;
  const postgres = use.postgres === null ? 'PostgreSQL not visible in /proc' : `PostgreSQL ${p(use.postgres)}`;
  return `app ${p(use.app)}, ${postgres}, generator ${p(use.generator)}, other ${p(use.other)} (of ${cores * 100}% on ${cores} cores)`;
}
