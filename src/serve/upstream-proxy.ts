import { createHash } from 'node:crypto';
import { Agent, request, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

/** Larger requests or responses are refused (413) or turned into 502: each is held in memory to be hashed. */
export const MAX_EXCHANGE_BYTES = 64 * 1024 * 1024;

/** RFC 9110 §7.6.1: headers of one connection, never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
]);

export interface UpstreamAnswer {
  status: number;
  headers: OutgoingHttpHeaders;
  body: Buffer;
}

export class TooLarge extends Error {}

/**
 * Reads a whole body, refusing more than `limit` bytes. Event listeners rather than an async
 * iterator: this runs twice per proxied request and once per client answer (see bench/serving.ts).
 */
export function readBody(stream: Readable, limit = MAX_EXCHANGE_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        stream.off('data', onData);
        stream.destroy();
        reject(new TooLarge(`more than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    stream.on('data', onData);
    stream.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    stream.once('error', reject);
    // A stream destroyed before its end (a peer that went away) emits neither 'end' nor always 'error'.
    stream.once('close', () => {
      if (!stream.readableEnded) reject(new Error('the stream closed before its end'));
    });
  });
}

export function endToEndHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers))
    if (!HOP_BY_HOP.has(name) && value !== undefined) out[name] = value;
  return out;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Forwards one buffered request to the upstream (loopback HTTP) and buffers its answer. */
export class UpstreamProxy {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private readonly base: URL;

  constructor(upstream: string) {
    this.base = new URL(upstream);
  }

  forward(method: string, target: string, headers: IncomingHttpHeaders, body: Buffer): Promise<UpstreamAnswer> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.base.hostname,
          port: this.base.port || 80,
          method,
          path: target,
          headers: { ...endToEndHeaders(headers), host: this.base.host, 'content-length': body.length },
          agent: this.agent,
        },
        (res: IncomingMessage) => {
          readBody(res)
            .then((answer) =>
              resolve({ status: res.statusCode ?? 502, headers: endToEndHeaders(res.headers), body: answer }),
            )
            .catch(reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export function send(res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: Buffer): void {
  res.writeHead(status, { ...headers, 'content-length': body.length });
  res.end(body);
}
