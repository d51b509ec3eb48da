// Captures the app's JSON log lines in memory, with the same pino options as production.
import { Writable } from 'node:stream';
import pino from 'pino';
import { loggerOptions } from '../../src/infra/log.ts';

export function captureLogs(level = 'info'): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino(loggerOptions(level) as pino.LoggerOptions, stream), lines };
}
