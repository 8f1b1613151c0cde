import { createHash, randomBytes } from 'node:crypto';
import { connect, type TLSSocket } from 'node:tls';
import { EnvironmentError, VerificationError } from '../errors.js';
import { ATTESTATION_PATH, EXPORTER_BYTES, EXPORTER_LABEL, MAX_ATTESTATION_BYTES } from './attestation-document.js';
import {
  verifyAttestation,
  type AttestationReport,
  type AttestOptions,
  type VerifiedAttestation,
} from './verify-attestation.js';

const MAX_HEAD_BYTES = 16 * 1024;

/** One TLS connection to a serving endpoint and the attestation asked on it, before anything else was sent. */
export interface AttestedConnection {
  socket: TLSSocket;
  report: AttestationReport;
  attestation?: VerifiedAttestation;
  /** The attestation document as received (for `aicert receipt verify` later). */
  document: Buffer;
}

/**
 * Opens a TLS 1.3 connection (the server's certificate is self-signed: what vouches for its key
 * is the attestation), asks for an attestation with a fresh nonce, and verifies it against this
 * very connection: the server's public key and the connection's exporter value.
 */
export async function attestConnection(
  endpoint: URL,
  options: Omit<AttestOptions, 'live'>,
): Promise<AttestedConnection> {
  const host = endpoint.hostname.replace(/^\[|\]$/g, '');
  const socket = connect({
    host,
    port: Number(endpoint.port || 443),
    ...(isIp(host) ? {} : { servername: host }),
    rejectUnauthorized: false,
    minVersion: 'TLSv1.3',
    ALPNProtocols: ['http/1.1'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', (err) =>
        reject(new EnvironmentError('attest.connect', `cannot connect to ${endpoint.host}: ${err.message}`)),
      );
    });
    const peer = socket.getPeerX509Certificate();
    if (!peer) throw new VerificationError('channel.binding', 'the server presented no certificate');
    const spki = peer.publicKey.export({ type: 'spki', format: 'der' });
    const nonce = randomBytes(32).toString('hex');
    const live = {
      nonce,
      tlsSpkiSha256: createHash('sha256').update(spki).digest('hex'),
      exporter: socket.exportKeyingMaterial(EXPORTER_BYTES, EXPORTER_LABEL, Buffer.alloc(0)).toString('hex'),
    };
    const document = await exchange(socket, endpoint, `${ATTESTATION_PATH}?nonce=${nonce}`);
    const { report, attestation } = await verifyAttestation(document, endpoint.origin, { ...options, live });
    return { socket, report, ...(attestation && { attestation }), document };
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

/**
 * One HTTP/1.1 GET written and read by hand on the fresh socket, so that the attestation is
 * asked before any HTTP client owns the connection. Bounded: 16 KiB of head, a Content-Length
 * body of at most MAX_ATTESTATION_BYTES, and nothing after it.
 */
function exchange(socket: TLSSocket, endpoint: URL, target: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    let bodyStart = -1;
    let length = -1;
    const fail = (why: string) => {
      finish();
      reject(new VerificationError('attestation.schema', `the attestation request to ${endpoint.host} failed: ${why}`));
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (bodyStart < 0) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buffered.length > MAX_HEAD_BYTES) fail('the response head is too long');
          return;
        }
        const head = buffered.subarray(0, end).toString('latin1').split('\r\n');
        const status = /^HTTP\/1\.1 (\d{3}) /.exec(head[0] ?? '');
        if (status?.[1] === '503') return refused(buffered.subarray(end + 4, end + 4 + 512).toString('utf8'));
        if (status?.[1] !== '200') return fail(`the server answered ${JSON.stringify(head[0] ?? '')}`);
        const header = head.find((h) => /^content-length:/i.test(h));
        length = header ? Number(header.slice(header.indexOf(':') + 1).trim()) : Number.NaN;
        if (!Number.isSafeInteger(length) || length < 0 || length > MAX_ATTESTATION_BYTES)
          return fail('the response has no usable Content-Length');
        bodyStart = end + 4;
      }
      const have = buffered.length - bodyStart;
      if (have > length) return fail('the server sent more than the attestation');
      if (have === length) {
        finish();
        resolve(buffered.subarray(bodyStart));
      }
    };
    /** The server says it cannot attest its session (its register was removed or reset): a finding, not bad input. */
    const refused = (why: string) => {
      finish();
      reject(
        new VerificationError(
          'attestation.refused',
          `${endpoint.host} answered no attestation: ${why.replace(/[^\x20-\x7e]+/g, ' ').trim() || '503'}`,
        ),
      );
    };
    const onEnd = () => fail('the connection closed');
    const finish = () => {
      socket.off('data', onData);
      socket.off('error', onEnd);
      socket.off('end', onEnd);
    };
    socket.on('data', onData);
    socket.on('error', onEnd);
    socket.on('end', onEnd);
    socket.write(`GET ${target} HTTP/1.1\r\nHost: ${endpoint.host}\r\nConnection: keep-alive\r\n\r\n`);
  });
}

function isIp(host: string): boolean {
  return /^\d+\.\d+\.\d+\.\d+$/.test(host) || host.includes(':');
}
