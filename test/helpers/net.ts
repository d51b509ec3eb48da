// A free loopback port for a process a test starts (the server, an embedded database, PgBouncer).
import { once } from 'node:events';
import net from 'node:net';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/**
 * Sends raw bytes to a loopback port and resolves with everything the server answered once it
 * closed the socket: for requests an HTTP client will not send (absolute-form targets, two Host
 * headers, a body that never arrives).
 */
export async function rawExchange(port: number, bytes: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let answer = '';
  socket.on('data', (chunk) => {
    answer += chunk;
  });
  socket.write(bytes);
  await once(socket, 'close');
  return answer;
}
