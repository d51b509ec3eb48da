// src/infra/drain.ts alone, on a plain Node HTTP server with the production keep-alive timeout: once
// the drain has started, no connection outlives its response, so server.close() completes when the
// last response does instead of 65 s later. (test/infra/shutdown.test.ts: the whole server under load.)
// A failure here shows as a timeout: the exchange below only resolves when the server closes the socket.
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { trackConnections } from '../../src/infra/drain.ts';
import { rawExchange } from '../helpers/net.ts';

const REQUEST = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';

async function startServer(t: { teardown(fn: () => unknown): void }) {
  const responses: http.ServerResponse[] = [];
  const waiting: ((response: http.ServerResponse) => void)[] = [];
  const server = http.createServer((_request, response) => {
    const next = waiting.shift();
    if (next) next(response);
    else responses.push(response);
  });
  server.keepAliveTimeout = 65_000;
  const drain = trackConnections(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return {
    server,
    drain,
    port: (server.address() as AddressInfo).port,
    /** The next request to arrive, unanswered. */
    nextRequest: () => new Promise<http.ServerResponse>((resolve) => (responses.length > 0 ? resolve(responses.shift()!) : waiting.push(resolve))),
  };
}

t.test('a response still to be sent when the drain starts closes its connection', async (t) => {
  const { server, drain, port, nextRequest } = await startServer(t);
  const answer = rawExchange(port, REQUEST);
  const response = await nextRequest();
  t.equal(drain.inFlight, 1, 'one request in flight');

  drain.start();
  const closed = once(server, 'close');
  server.close();
  response.end('done');
  const text = await answer;
  t.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  t.match(text, /\r\nconnection: close\r\n/i, 'told the client');
  t.match(text, /done$/, 'the whole body');
  await closed;
  t.equal(drain.inFlight, 0);
});

t.test('a response whose headers went out before the drain: its connection is closed once it ends', async (t) => {
  const { server, drain, port, nextRequest } = await startServer(t);
  const answer = rawExchange(port, REQUEST);
  const response = await nextRequest();
  response.writeHead(200, { 'content-type': 'text/plain' });
  response.write('first half, ');

  drain.start();
  const closed = once(server, 'close');
  server.close();
  response.end('second half');
  const text = await answer;
  t.match(text, /\r\nconnection: keep-alive\r\n/i, 'the headers had promised keep-alive');
  t.match(text, /first half, /);
  t.match(text, /second half/);
  await closed;
});

t.test('a request arriving on a new connection while draining is answered, then its connection closed', async (t) => {
  const { drain, port, nextRequest } = await startServer(t);
  drain.start();
  const answer = rawExchange(port, REQUEST);
  (await nextRequest()).end('late');
  const text = await answer;
  t.match(text, /\r\nconnection: close\r\n/i);
  t.match(text, /late$/);
});
