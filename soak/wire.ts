// Raw HTTP/1.1 over a loopback socket, for requests an HTTP client will not send (two Host headers,
// absolute-form targets, bytes that are not valid header text, cookies past every limit), with a
// deadline: like test/helpers/net.ts rawExchange, but the answer is parsed (status, headers,
// chunked or sized body) and a server that never answers is reported instead of waited for.
import net from 'node:net';

export interface RawResponse {
  status: number;
  /** Header lines in order, names lowercased. */
  headers: [string, string][];
  body: string;
}

export type Exchange =
  | { kind: 'response'; response: RawResponse }
  /** The server closed (or reset) the connection without a complete answer. */
  | { kind: 'closed'; received: number }
  /** Nothing complete within the deadline. */
  | { kind: 'timeout'; received: number };

export function header(response: RawResponse, name: string): string | undefined {
  return response.headers.find(([n]) => n === name)?.[1];
}

export function headers(response: RawResponse, name: string): string[] {
  return response.headers.filter(([n]) => n === name).map(([, v]) => v);
}

const CRLF2 = Buffer.from('\r\n\r\n');

type Parsed = { complete: true; response: RawResponse } | { complete: false };

/** One response from the start of `data` (interim 1xx answers skipped); `head` when HEAD was sent. */
export function parseResponse(data: Buffer, options: { head: boolean; closed: boolean }): Parsed {
  let offset = 0;
  for (;;) {
    const end = data.indexOf(CRLF2, offset);
    if (end < 0) return { complete: false };
    const lines = data.subarray(offset, end).toString('latin1').split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!match) return { complete: false };
    const status = Number(match[1]);
    const parsedHeaders: [string, string][] = lines.slice(1).map((line) => {
      const colon = line.indexOf(':');
      return colon < 0 ? [line.toLowerCase(), ''] : [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
    });
    const bodyStart = end + 4;
    if (status >= 100 && status < 200) {
      offset = bodyStart;
      continue;
    }
    const response = (body: Buffer): Parsed => ({ complete: true, response: { status, headers: parsedHeaders, body: body.toString('utf8') } });
    if (options.head || status === 204 || status === 304) return response(Buffer.alloc(0));
    const get = (name: string) => parsedHeaders.find(([n]) => n === name)?.[1];
    if (/chunked/i.test(get('transfer-encoding') ?? '')) {
      const chunks: Buffer[] = [];
      let at = bodyStart;
      for (;;) {
        const lineEnd = data.indexOf('\r\n', at);
        if (lineEnd < 0) return { complete: false };
        const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
        if (Number.isNaN(size)) return { complete: false };
        if (size === 0) return response(Buffer.concat(chunks));
        if (data.length < lineEnd + 2 + size + 2) return { complete: false };
        chunks.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
      }
    }
    const length = get('content-length');
    if (length !== undefined) {
      const size = Number(length);
      if (data.length - bodyStart < size) return { complete: false };
      return response(data.subarray(bodyStart, bodyStart + size));
    }
    // Neither: the body ends when the connection does.
    return options.closed ? response(data.subarray(bodyStart)) : { complete: false };
  }
}

/** Sends `bytes` to 127.0.0.1:port and resolves with the first answer, or why there was none. */
export function exchange(port: number, bytes: Buffer, options: { timeoutMs: number; head?: boolean }): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (outcome: Exchange) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const attempt = (closed: boolean) => {
      const parsed = parseResponse(Buffer.concat(received), { head: options.head === true, closed });
      if (parsed.complete) finish({ kind: 'response', response: parsed.response });
      else if (closed) finish({ kind: 'closed', received: size });
    };
    const timer = setTimeout(() => finish({ kind: 'timeout', received: size }), options.timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      size += chunk.length;
      attempt(false);
    });
    // A server may answer (413, 431) and close while the request is still being written: the
    // answer counts, the EPIPE or reset does not.
    socket.on('error', () => attempt(true));
    socket.on('close', () => attempt(true));
    socket.on('connect', () => socket.write(bytes));
  });
}
