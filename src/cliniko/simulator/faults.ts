// Fault injection: latency, 5xx answers, connection resets and hangs, for every API request or for
// one patient, so tests can show how Sidechart behaves when Cliniko does not.
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { queryValues, type Query } from './filters.ts';

export interface SimulatorFault {
  /** Delay before answering (or before the other fault). */
  latencyMs?: number;
  /** Answer with this status instead (typically 500, 502 or 503; any 4xx/5xx works). */
  status?: number;
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

export function createFaultInjector() {
  const faults: SimulatorFaults = { global: null, byPatientId: new Map() };
  const hungSockets = new Set<Socket>();

  function takeFault(request: FastifyRequest): SimulatorFault | undefined {
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
    return fault;
  }

  return {
    /** Mutable: tests may set `global` or `byPatientId` entries directly. */
    faults,

    /** Applies the fault due for this request, if any. True when the fault took the request over. */
    async inject(request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
      const fault = takeFault(request);
      if (fault?.latencyMs !== undefined && fault.latencyMs > 0) await sleep(fault.latencyMs);
      if (fault?.reset === true) {
        reply.hijack();
        request.raw.socket.resetAndDestroy();
        return true;
      }
      if (fault?.hang === true) {
        reply.hijack();
        const socket = request.raw.socket;
        hungSockets.add(socket);
        socket.once('close', () => hungSockets.delete(socket));
        return true;
      }
      if (fault?.status !== undefined) {
        reply.code(fault.status).send({ message: 'Simulated server error' });
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

    /** Hung requests would keep close() waiting forever. */
    releaseHung(): void {
      for (const socket of hungSockets) socket.destroy();
      hungSockets.clear();
    },
  };
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
