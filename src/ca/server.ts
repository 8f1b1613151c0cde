import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AicertError, EnvironmentError, InputError, VerificationError } from '../errors.js';
import type { EnrollmentAuthority } from './enrollment.js';
import { ENROLL_FINISH_PATH, ENROLL_START_PATH, MAX_REQUEST_BYTES } from './protocol.js';
import { clientKey, RateLimited } from './rate-limit.js';

/**
 * The attestation CA over HTTP (node:http, JSON). Plain HTTP is enough for the protocol's
 * security: the credential can only be opened by the enrolling TPM, and the certificate it
 * yields is public. Run it behind a TLS proxy if the CA must be authenticated to clients.
 */
export interface CaServer {
  url: string;
  close(): Promise<void>;
}

export interface CaServerOptions {
  host?: string;
  port?: number;
  /** Told about internal errors (refusals are logged by the authority). */
  log?: (line: string) => void;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function startCaServer(authority: EnrollmentAuthority, options: CaServerOptions = {}): Promise<CaServer> {
  // Sessions and their rate are bounded per client address (EnrollmentLimits); behind a proxy
  // every client has the proxy's address.
  const routes: Record<string, Route> = {
    [ENROLL_START_PATH]: (body, client) => authority.start(body, client),
    [ENROLL_FINISH_PATH]: (body) => authority.finish(body),
  };
  const server = createServer((request, response) => {
    handle(request, routes).then(
      (body) => send(response, 200, body),
      (err: unknown) => {
        const { status, code, message } = httpErrorOf(err, options.log);
        send(
          response,
          status,
          { error: { code, message } },
          err instanceof RateLimited ? err.retryAfterSeconds : undefined,
        );
      },
    );
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.maxHeadersCount = 50;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new EnvironmentError(
          'ca.listen',
          `cannot listen on ${options.host ?? '127.0.0.1'}:${options.port ?? 0}: ${err.message}`,
        ),
      ),
    );
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

type Route = (body: unknown, client: string) => Promise<unknown>;

async function handle(request: IncomingMessage, routes: Record<string, Route>): Promise<unknown> {
  const path = new URL(request.url ?? '/', 'http://ca').pathname;
  const route = routes[path];
  if (!route)
    throw new HttpError(
      404,
      'http.not-found',
      `no such endpoint ${path}; the CA serves POST ${Object.keys(routes).join(' and ')}`,
    );
  if (request.method !== 'POST') throw new HttpError(405, 'http.method', `${path} takes POST, not ${request.method}`);
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json')
    throw new HttpError(415, 'http.content-type', 'the request body must be JSON (Content-Type: application/json)');
  const text = await readBody(request);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'enroll.malformed', 'the request body is not valid JSON');
  }
  return route(body, clientKey(request.socket.remoteAddress));
}

function readBody(request: IncomingMessage): Promise<string> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > MAX_REQUEST_BYTES) {
    return Promise.reject(
      new HttpError(
        413,
        'http.too-large',
        `the request body is ${declared} bytes, over the ${MAX_REQUEST_BYTES}-byte limit`,
      ),
    );
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    request.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > MAX_REQUEST_BYTES) {
        reject(new HttpError(413, 'http.too-large', `the request body is over the ${MAX_REQUEST_BYTES}-byte limit`));
        request.pause();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

/** Refusals of the evidence are 403, unusable requests 400, rate limits 429, CA trouble 503; anything else 500. */
function httpErrorOf(err: unknown, log?: (line: string) => void): { status: number; code: string; message: string } {
  if (err instanceof HttpError) return { status: err.status, code: err.code, message: err.message };
  if (err instanceof RateLimited) return { status: 429, code: err.code, message: err.message };
  if (err instanceof VerificationError) return { status: 403, code: err.code, message: err.message };
  if (err instanceof InputError) return { status: 400, code: err.code, message: err.message };
  if (err instanceof AicertError) return { status: 503, code: err.code, message: err.message };
  log?.(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return { status: 500, code: 'internal', message: 'internal error in the CA; see its log' };
}

function send(response: ServerResponse, status: number, body: unknown, retryAfterSeconds?: number): void {
  const text = JSON.stringify(body) + '\n';
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...(status === 413 && { connection: 'close' }),
    ...(retryAfterSeconds !== undefined && { 'retry-after': String(retryAfterSeconds) }),
  });
  response.end(text);
}
