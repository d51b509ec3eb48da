// Flights: one upstream operation that several callers wait for. When fifty people open the same
// patient at once Cliniko sees one request, not fifty, and each caller still gets its own deadline
// and cancellation. The flight may run as long as its most patient caller (its deadline is the
// latest of its waiters') and is aborted once every caller has left, so no work runs for nobody.
import { cancelledError, ClinikoError } from './errors.ts';

/** What one upstream operation needs to know about the callers waiting for it. */
export interface CallContext {
  /** Latest deadline among the callers that joined (epoch ms); later retries and waits may use it. */
  deadlineAt(): number;
  /** Aborted when every caller has given up. */
  signal: AbortSignal;
}

export interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  deadline: { at: number };
  waiters: number;
}

/** One caller: until when it waits, and its own way to give up. */
export interface Caller {
  /** Epoch ms. */
  deadlineAt: number;
  signal?: AbortSignal | undefined;
}

/** Starts `work` now; callers attach with `join`. Aborted once every caller has left. */
export function startFlight<T>(deadlineAt: number, work: (ctx: CallContext) => Promise<T>): Flight<T> {
  const controller = new AbortController();
  const deadline = { at: deadlineAt };
  const promise = work({ deadlineAt: () => deadline.at, signal: controller.signal });
  promise.catch(() => undefined); // a flight whose callers all left must not be an unhandled rejection
  return { promise, controller, deadline, waiters: 0 };
}

/** Waits for a flight until this caller's own deadline or signal, whichever is first. */
export function join<T>(flight: Flight<T>, caller: Caller): Promise<T> {
  const { deadlineAt, signal } = caller;
  flight.deadline.at = Math.max(flight.deadline.at, deadlineAt);
  flight.waiters += 1;

  return new Promise<T>((resolve, reject) => {
    let done = false;
    const finish = (settle: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      flight.waiters -= 1;
      settle();
    };
    const leave = (error: ClinikoError): void => {
      finish(() => reject(error));
      if (flight.waiters === 0) flight.controller.abort();
    };
    const onAbort = (): void => leave(cancelledError());
    const timer = setTimeout(() => leave(new ClinikoError('timeout')), Math.max(0, deadlineAt - Date.now()));
    if (signal?.aborted === true) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    flight.promise.then(
      (value) => finish(() => resolve(value)),
      (error: unknown) => finish(() => reject(error)),
    );
  });
}

/** A flight of its own: the caller's deadline and signal, nothing shared. */
export function runAlone<T>(caller: Caller, work: (ctx: CallContext) => Promise<T>): Promise<T> {
  return join(startFlight(caller.deadlineAt, work), caller);
}

/** Flights by key: a caller joins the flight in progress for its key, or starts one. */
export function createSharedFlights<T>() {
  const flights = new Map<string, Flight<T>>();
  return {
    join(key: string, caller: Caller, work: (ctx: CallContext) => Promise<T>): Promise<T> {
      let flight = flights.get(key);
      // A flight every caller has left is being torn down: start afresh rather than join it.
      if (flight === undefined || flight.controller.signal.aborted) {
        const started = startFlight(caller.deadlineAt, work);
        const forget = (): void => {
          if (flights.get(key) === started) flights.delete(key);
        };
        started.promise.then(forget, forget);
        flights.set(key, started);
        flight = started;
      }
      return join(flight, caller);
    },
  };
}
