// Fault injection: latency, 5xx answers, 429 storms, connection resets and hangs, answers that are
// not JSON or are cut short, and enormous answers, for every API request or for one patient, so
// tests can show how Sidechart behaves when Cliniko does not.
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { queryValues, type Query } from './filters.ts';

export interface SimulatorFault {
  /** Delay before answering (or before the other fault). */
  latencyMs?: number;
  /**
   * Answer with this status instead (typically 500, 502 or 503; any 4xx/5xx works). A 429 is a
   * storm: every matching request is refused until the fault is cleared, each answer announcing the
   * same reset (see resetInSeconds and rateLimitHeaders).
   */
  status?: number;
  /** With status 429: seconds from the first refusal to the announced reset (default 60); a reset that has passed moves on by as much. */
  resetInSeconds?: number;
  /**
   * With status 429: how the reset is announced. `reset` (default): `X-RateLimit-Reset`, UNIX
   * seconds, as Cliniko documents. `retry_after`: `Retry-After` seconds only (standard HTTP; not in
   * Cliniko's docs). `both`, or `none` (the client must then choose its own wait).
   */
  rateLimitHeaders?: 'reset' | 'retry_after' | 'both' | 'none';
  /**
   * Answer 200 with a body that is not the JSON asked for. `not_json`: labelled application/json
   * but an HTML page (what a misconfigured proxy sends). `truncated_json`: the first half of a
   * patient record, complete as an HTTP message. `cut_off`: Content-Length of the whole record, half
   * of it sent, then the connection dropped.
   */
  badBody?: 'not_json' | 'truncated_json' | 'cut_off';
  /**
   * Answer 200 with a patient record of this many bytes (its notes go on and on), produced as it
   * is read, so the simulator never holds it: a client that stops reading stops the stream.
   */
  enormousBytes?: number;
  /** With enormousBytes: send Content-Length up front (default false: chunked, the size unknown until the end). */
  declareLength?: boolean;
  /** Reset the TCP connection instead of answering. */
  reset?: boolean;
  /** Never answer (the connection stays open until the client gives up or the app closes). */
  hang?: boolean;
  /** Apply to this many matching requests, then disappear (default: until cleared). */
  times?: number;
}

export interface SimulatorFaults {
  /** Applies to every API request with no patient-specific fault. */
  global: SimulatorFault | null;
  /** Applies to `GET /v1/patients/:id` and to list requests filtered by `id:=` this ID. */
  byPatientId: Map<string, SimulatorFault>;
}

/** What became of the enormous bodies: how many began, how many were produced to their end, and the bytes produced. */
export interface StreamedBodies {
  started: number;
  completed: number;
  bytes: number;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const STREAM_CHUNK = Buffer.alloc(64 * 1024, 'x');
const NOT_JSON = '<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body><h1>Service temporarily unavailable</h1></body></html>\n';

export function createFaultInjector() {
  const faults: SimulatorFaults = { global: null, byPatientId: new Map() };
  const hungSockets = new Set<Socket>();
  /** The reset each 429 storm announces (epoch ms), fixed at its first refusal. */
  const stormResets = new WeakMap<SimulatorFault, number>();
  const streamed: StreamedBodies = { started: 0, completed: 0, bytes: 0 };

  function takeFault(request: FastifyRequest): { fault: SimulatorFault | undefined; patientId: string | undefined } {
    const id = faultPatientId(request);
    const scoped = id === undefined ? undefined : faults.byPatientId.get(id);
    const fault = scoped ?? faults.global ?? undefined;
    if (fault?.times !== undefined) {
      fault.times -= 1;
      if (fault.times <= 0) {
        if (scoped !== undefined && id !== undefined) faults.byPatientId.delete(id);
        else faults.global = null;
      }
    }
    return { fault, patientId: id };
  }

  function sendRateLimited(fault: SimulatorFault, reply: FastifyReply): void {
    const now = Date.now();
    const periodMs = (fault.resetInSeconds ?? 60) * 1000;
    let resetAt = stormResets.get(fault);
    if (resetAt === undefined || resetAt <= now) {
      resetAt = now + periodMs;
      stormResets.set(fault, resetAt);
    }
    const headers = fault.rateLimitHeaders ?? 'reset';
    if (headers === 'reset' || headers === 'both') reply.header('x-ratelimit-reset', String(Math.ceil(resetAt / 1000)));
    if (headers === 'retry_after' || headers === 'both') reply.header('retry-after', String(Math.ceil((resetAt - now) / 1000)));
    reply.code(429).send({ message: 'Too Many Requests' });
  }

  /** A patient record of exactly `size` bytes (at least its fixed fields), produced chunk by chunk as it is read. */
  function enormousBody(id: string, size: number): { stream: Readable; length: number } {
    const head = Buffer.from(`{"id":${JSON.stringify(id)},"first_name":"Enormous","last_name":"Record","notes":"`);
    const tail = Buffer.from('"}');
    const padding = Math.max(0, size - head.length - tail.length);
    function* produce(): Generator<Buffer> {
      streamed.started += 1;
      streamed.bytes += head.length;
      yield head;
      for (let left = padding; left > 0; left -= STREAM_CHUNK.length) {
        const chunk = left >= STREAM_CHUNK.length ? STREAM_CHUNK : STREAM_CHUNK.subarray(0, left);
        streamed.bytes += chunk.length;
        yield chunk;
      }
      streamed.bytes += tail.length;
      yield tail;
      streamed.completed += 1;
    }
    return { stream: Readable.from(produce(), { objectMode: false }), length: head.length + padding + tail.length };
  }

  return {
    /** Mutable: tests may set `global` or `byPatientId` entries directly. */
    faults,

    /** Applies the fault due for this request, if any. True when the fault took the request over. */
    async inject(request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
      const { fault, patientId } = takeFault(request);
      if (fault === undefined) return false;
      if (fault.latencyMs !== undefined && fault.latencyMs > 0) await sleep(fault.latencyMs);
      if (fault.reset === true) {
        reply.hijack();
        request.raw.socket.resetAndDestroy();
        return true;
      }
      if (fault.hang === true) {
        reply.hijack();
        const socket = request.raw.socket;
        hungSockets.add(socket);
        socket.once('close', () => hungSockets.delete(socket));
        return true;
      }
      if (fault.status === 429) {
        sendRateLimited(fault, reply);
        return true;
      }
      if (fault.status !== undefined) {
        reply.code(fault.status).send({ message: 'Simulated server error' });
        return true;
      }
      if (fault.badBody !== undefined) {
        sendBadBody(fault.badBody, patientId ?? '1', request, reply);
        return true;
      }
      if (fault.enormousBytes !== undefined) {
        const { stream, length } = enormousBody(patientId ?? '1', fault.enormousBytes);
        reply.code(200).type(JSON_TYPE);
        if (fault.declareLength === true) reply.header('content-length', String(length));
        reply.send(stream);
        return true;
      }
      return false;
    },

    set(fault: SimulatorFault, scope: { patientId?: string } = {}): void {
      if (scope.patientId === undefined) faults.global = { ...fault };
      else faults.byPatientId.set(scope.patientId, { ...fault });
    },

    clear(): void {
      faults.global = null;
      faults.byPatientId.clear();
    },

    /** Counts of enormous bodies since the last resetStreamed. */
    streamed(): StreamedBodies {
      return { ...streamed };
    },

    resetStreamed(): void {
      streamed.started = 0;
      streamed.completed = 0;
      streamed.bytes = 0;
    },

    /** Hung requests would keep close() waiting forever. */
    releaseHung(): void {
      for (const socket of hungSockets) socket.destroy();
      hungSockets.clear();
    },
  };
}

function sendBadBody(kind: NonNullable<SimulatorFault['badBody']>, id: string, request: FastifyRequest, reply: FastifyReply): void {
  if (kind === 'not_json') {
    reply.code(200).type(JSON_TYPE).send(NOT_JSON);
    return;
  }
  const record = JSON.stringify({ id, first_name: 'Cut', last_name: 'Short', notes: 'Seen for a sore knee. '.repeat(20), links: { self: 'https://example.invalid' } });
  const half = record.slice(0, Math.floor(record.length / 2));
  if (kind === 'truncated_json') {
    reply.code(200).type(JSON_TYPE).send(half);
    return;
  }
  reply.hijack();
  reply.raw.writeHead(200, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(record) });
  reply.raw.write(half, () => request.raw.socket.destroy());
}

/** The patient a request is about: the `:id` route parameter, or an `id:=` list filter. */
function faultPatientId(request: FastifyRequest): string | undefined {
  const params = request.params as Record<string, string | undefined> | undefined;
  if (params?.id !== undefined) return params.id;
  for (const filter of queryValues(request.query as Query, 'q[]')) {
    const match = /^id:=(\d+)$/.exec(filter);
    if (match?.[1] !== undefined) return match[1];
  }
  return undefined;
}
