// Draining an HTTP server's keep-alive connections on shutdown (server.ts). Node's server.close()
// stops accepting connections and closes those idle at that moment, but a connection whose
// request is in flight stays open after its response (keep-alive) until the client or the
// keep-alive timeout (65 s) closes it, and close() waits for it. So once draining, every response
// still to be sent says `Connection: close` (Node ends the socket after it), and a connection that
// falls idle is closed as soon as it does. Requests the server has begun reading always complete.
import type { Server, ServerResponse } from 'node:http';

export interface Drain {
  /** Responses begun and not yet finished. */
  readonly inFlight: number;
  /** From now on no connection is kept alive past its current response. */
  start(): void;
}

export function trackConnections(server: Server): Drain {
  const open = new Set<ServerResponse>();
  let draining = false;

  const closeAfterResponse = (response: ServerResponse): void => {
    if (!response.headersSent) response.setHeader('connection', 'close');
  };

  server.on('request', (_request, response: ServerResponse) => {
    open.add(response);
    if (draining) closeAfterResponse(response);
    response.once('close', () => {
      open.delete(response);
      // Responses whose headers went out before the drain said keep-alive: close them now.
      if (draining) server.closeIdleConnections();
    });
  });

  return {
    get inFlight() {
      return open.size;
    },
    start(): void {
      draining = true;
      for (const response of open) closeAfterResponse(response);
      server.closeIdleConnections();
    },
  };
}
