import { connect, type Socket } from 'node:net';
import { EnvironmentError } from '../../errors.js';

export type SocketEndpoint = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export function describeEndpoint(e: SocketEndpoint): string {
  return e.kind === 'tcp' ? `tcp://${e.host}:${e.port}` : `unix:${e.path}`;
}

/**
 * Opens a connection, writes `request`, and reads until `complete(received)` returns the
 * length of a full answer; then closes. Bounded by `maxBytes` and `timeoutMs`.
 */
export function exchange(
  endpoint: SocketEndpoint,
  request: Buffer,
  complete: (received: Buffer) => number | undefined,
  options: { maxBytes: number; timeoutMs: number; what: string },
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket: Socket =
      endpoint.kind === 'tcp'
        ? connect({ host: endpoint.host, port: endpoint.port })
        : connect({ path: endpoint.path });
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const finish = (err: Error | undefined, value?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    const fail = (message: string, cause?: unknown) =>
      finish(
        new EnvironmentError('tpm.transport', `${options.what} at ${describeEndpoint(endpoint)}: ${message}`, {
          cause,
        }),
      );
    const timer = setTimeout(() => fail(`no answer within ${options.timeoutMs / 1000} s`), options.timeoutMs);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received > options.maxBytes) return fail(`answer exceeds ${options.maxBytes} bytes`);
      const all = chunks.length === 1 ? chunk : Buffer.concat(chunks, received);
      chunks.length = 0;
      chunks.push(all);
      const length = complete(all);
      if (length !== undefined) finish(undefined, all.subarray(0, length));
    });
    socket.on('error', (err: NodeJS.ErrnoException) =>
      fail(
        err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
          ? `cannot connect (${err.code}); is the TPM simulator running?`
          : err.message,
        err,
      ),
    );
    socket.on('close', () => fail('connection closed before a complete answer'));
  });
}
