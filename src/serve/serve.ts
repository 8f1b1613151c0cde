import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { EnvironmentError, UsageError, VerificationError } from '../errors.js';
import { loadAkCertificateChain } from '../ca/ak-store.js';
import { MAX_CERTIFICATE_BYTES } from '../cert/certificate.js';
import { measureCodeArtifact, measureModelArtifact } from '../protocol/artifacts.js';
import { environmentEvent } from '../protocol/environment-event.js';
import { eventDigest } from '../protocol/event-log.js';
import type { ServeCommandEvent, ServeKeysEvent } from '../protocol/serve-events.js';
import { Tpm } from '../tpm/client.js';
import { createAk } from '../tpm/keys.js';
import { objectName, public2b } from '../tpm/public.js';
import { encodeBase64 } from '../util/base64.js';
import { readBoundedFile } from '../util/bounded-file.js';
import { verifyCertificate, type VerifyOptions } from '../verify/verify-certificate.js';
import {
  ATTESTATION_MEDIA_TYPE,
  ATTESTATION_PATH,
  channelBinding,
  EXPORTER_BYTES,
  EXPORTER_LABEL,
  NONCE_MAX_BYTES,
  NONCE_MIN_BYTES,
} from './attestation-document.js';
import { encodeReceipt, RECEIPT_HEADER, signReceipt } from './receipt.js';
import { ServingSession, type TpmAttestationJson } from './serving-session.js';
import { generateSessionKeys, type SessionKeys } from './tls-identity.js';
import { readBody, send, sha256Hex, TooLarge, UpstreamProxy } from './upstream-proxy.js';

export interface ServeOptions {
  certificate: string;
  model: string;
  code?: string;
  tpm: string;
  host: string;
  port: number;
  upstream: string;
  /** The inference server; empty to front an upstream started elsewhere. */
  command: string[];
  /** How the training certificate is verified before anything is served (trust, policy). */
  verify: Omit<VerifyOptions, 'model' | 'data' | 'code'>;
  log: (line: string) => void;
}

export interface RunningServe {
  sessionId: string;
  /** The port TLS is terminated on (the one asked, or the one the system chose for port 0). */
  port: number;
  /** Settles when the session ends: the upstream command exited (rejects) or `stop` was called. */
  done: Promise<void>;
  stop(): Promise<void>;
}

/** How long the upstream has to accept connections after it was started. */
const UPSTREAM_START_MS = 120_000;

/**
 * `aicert serve` (docs/serving.md): verifies the training certificate against the model
 * directory, opens a serving session in a fresh NV extend index, starts the inference server,
 * and terminates TLS with the session's attested key, answering attestations and signing a
 * receipt for every answer it forwards. Refuses to start when the model is not the certified
 * output (exit 1).
 */
export async function startServe(o: ServeOptions): Promise<RunningServe> {
  const upstream = new URL(o.upstream);
  if (upstream.protocol !== 'http:' || !isLoopback(upstream.hostname))
    throw new UsageError(
      'usage.upstream',
      `--upstream ${o.upstream} must be an http:// URL on loopback (127.0.0.1, ::1, localhost)`,
    );
  const certificateBytes = await readBoundedFile(o.certificate, MAX_CERTIFICATE_BYTES, 'certificate');
  o.log(`verifying ${o.certificate} against the model in ${o.model}`);
  const { report, run } = await verifyCertificate(certificateBytes, o.certificate, { ...o.verify, model: o.model });
  if (!run) {
    const failed = report.checks.find((c) => c.status === 'failed');
    throw new VerificationError(
      failed?.id === 'artifact.model' ? 'serve.model' : 'serve.certificate',
      `refusing to serve: ${failed ? `${failed.id}: ${failed.reason}` : 'the certificate does not verify'}`,
    );
  }
  // Measured again for the log: what the session records is what it read last, and it must still be the certified output.
  const measured = await measureModelArtifact(o.model, 'model', 'output');
  const certified = run.outputs.find((e) => e.role === 'model' && e.digest.sha256 === measured.digest.sha256);
  if (!certified)
    throw new VerificationError('serve.model', `refusing to serve: ${o.model} changed while it was being verified`);
  const code = o.code ? await measureCodeArtifact(o.code) : undefined;

  const tpm = await Tpm.open(o.tpm);
  let session: ServingSession | undefined;
  let child: ChildProcess | undefined;
  let server: Server | undefined;
  const proxy = new UpstreamProxy(o.upstream);
  const cleanup = async () => {
    proxy.close();
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server?.closeAllConnections();
    await session
      ?.close()
      .catch((err: Error) => o.log(`WARNING: could not remove the session's NV index: ${err.message}`));
    await tpm.close();
  };
  try {
    const ak = await createAk(tpm);
    await tpm.flushContext(ak.handle);
    const akName = objectName(ak.public);
    const akChain = await loadAkCertificateChain(akName);
    if (!akChain) o.log('note: this AK has no certificate; clients will not trust it. Run `aicert ak enroll` first.');
    session = await ServingSession.open(tpm, akName);
    const sessionId = session.session.sessionId;
    const keys = await generateSessionKeys(sessionId);
    await session.extend(await environmentEvent(tpm));
    await session.extend({
      type: 'training-certificate',
      sha256: run.certificateSha256,
      trainingSession: run.session.sessionId,
    });
    await session.extend({ ...measured, type: 'served-model' });
    if (code) await session.extend({ ...code, type: 'serving-code' });
    await session.extend({ type: 'serve-command', argv: o.command, upstream: o.upstream } satisfies ServeCommandEvent);
    const keysEvent = keysEventOf(keys);
    await session.extend(keysEvent);
    const opened = await session.attest(eventDigest(keysEvent));
    o.log(`serving session ${sessionId} opened in NV index 0x${session.session.nvIndex.toString(16)}`);

    let childExit: Promise<never> | undefined;
    if (o.command.length > 0) {
      o.log(`starting the inference server: ${o.command.join(' ')}`);
      child = spawn(o.command[0]!, o.command.slice(1), {
        stdio: ['ignore', 'inherit', 'inherit'],
        env: { ...process.env, AICERT_UPSTREAM: o.upstream, PORT: upstream.port || '80' },
      });
      childExit = new Promise<never>((_, reject) => {
        child!.on('error', (err) =>
          reject(new EnvironmentError('serve.upstream', `cannot start ${o.command[0]}: ${err.message}`)),
        );
        child!.on('exit', (codeOut, signal) =>
          reject(
            new EnvironmentError(
              'serve.upstream-exit',
              `the inference server exited (${signal ? `signal ${signal}` : `status ${codeOut}`}); the serving session ended`,
            ),
          ),
        );
      });
      childExit.catch(() => undefined);
      await Promise.race([waitForPort(upstream), childExit]);
    }
    const documentHead: DocumentHead = {
      mediaType: ATTESTATION_MEDIA_TYPE,
      sessionId,
      akPublic: encodeBase64(public2b(ak.public.bytes)),
      ...(akChain && { akCertificateChain: akChain.map(encodeBase64) }),
      nvPublic: session.nvPublic,
      trainingCertificate: encodeBase64(certificateBytes),
    };
    const handler = new Handler(session, keys, proxy, documentHead, opened);
    server = createServer(
      {
        key: keys.tls.key.export({ type: 'pkcs8', format: 'pem' }),
        cert: keys.tls.certificatePem,
        minVersion: 'TLSv1.3',
        keepAliveTimeout: 30_000,
      },
      (req, res) =>
        handler.handle(req, res).catch((err: Error) => {
          o.log(`request failed: ${err.message}`);
          res.destroy();
        }),
    );
    const port = await new Promise<number>((resolve, reject) => {
      server!.once('error', (err) =>
        reject(new EnvironmentError('serve.listen', `cannot listen on ${o.host}:${o.port}: ${err.message}`)),
      );
      server!.listen(o.port, o.host, () => resolve((server!.address() as { port: number }).port));
    });
    o.log(`listening on https://${o.host}:${port} (upstream ${o.upstream})`);
    let stopped!: () => void;
    const stop = new Promise<void>((r) => (stopped = r));
    const done = (childExit ? Promise.race([childExit, stop]) : stop).finally(cleanup);
    done.catch(() => undefined);
    return {
      sessionId,
      port,
      done,
      stop: async () => {
        stopped();
        await done.catch(() => undefined);
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** The parts of every attestation document that do not change during the session. */
interface DocumentHead {
  mediaType: typeof ATTESTATION_MEDIA_TYPE;
  sessionId: string;
  akPublic: string;
  akCertificateChain?: string[];
  nvPublic: string;
  trainingCertificate: string;
}

class Handler {
  private seq = 0;

  constructor(
    private readonly session: ServingSession,
    private readonly keys: SessionKeys,
    private readonly proxy: UpstreamProxy,
    private readonly head: DocumentHead,
    private readonly opened: TpmAttestationJson,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A path is the attestation path only if its text holds the word (URL parsing decodes no
    // letters): every other request skips the parse, a few µs per answer.
    if (req.url?.includes('attestation')) {
      const url = new URL(req.url, 'https://aicert.invalid');
      if (url.pathname === ATTESTATION_PATH) return this.attest(req, res, url);
    }
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch (err) {
      if (!(err instanceof TooLarge)) throw err;
      return this.answer(req, res, Buffer.alloc(0), {
        status: 413,
        headers: {},
        body: Buffer.from('request too large\n'),
      });
    }
    const answer = await this.proxy
      .forward(req.method ?? 'GET', req.url ?? '/', req.headers, body)
      .catch((err: Error) => ({
        status: 502,
        headers: { 'content-type': 'text/plain' },
        body: Buffer.from(`the inference server did not answer: ${err.message}\n`),
      }));
    this.answer(req, res, body, answer);
  }

  /** Every answer, errors included, goes out with a receipt: a client never gets an unsigned one. */
  private answer(
    req: IncomingMessage,
    res: ServerResponse,
    requestBody: Buffer,
    answer: { status: number; headers: Record<string, unknown>; body: Buffer },
  ): void {
    const receipt = signReceipt(
      {
        v: 1,
        sessionId: this.session.session.sessionId,
        seq: ++this.seq,
        time: new Date().toISOString(),
        request: { method: req.method ?? 'GET', target: req.url ?? '/', sha256: sha256Hex(requestBody) },
        response: { status: answer.status, sha256: sha256Hex(answer.body) },
      },
      this.keys.receipt.privateKey,
    );
    send(res, answer.status, { ...answer.headers, [RECEIPT_HEADER]: encodeReceipt(receipt) } as never, answer.body);
  }

  private async attest(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const nonce = url.searchParams.get('nonce') ?? '';
    const valid = new RegExp(`^(?:[0-9a-f]{2}){${NONCE_MIN_BYTES},${NONCE_MAX_BYTES}}$`).test(nonce);
    if (req.method !== 'GET' || !valid) {
      send(
        res,
        400,
        { 'content-type': 'text/plain' },
        Buffer.from(`GET ${ATTESTATION_PATH}?nonce=<${NONCE_MIN_BYTES}-${NONCE_MAX_BYTES} bytes, lower-case hex>\n`),
      );
      return;
    }
    await readBody(req, 0).catch(() => undefined);
    const socket = req.socket as TLSSocket;
    const channel = {
      tlsSpkiSha256: this.keys.tls.spkiSha256.toString('hex'),
      exporter: socket.exportKeyingMaterial(EXPORTER_BYTES, EXPORTER_LABEL, Buffer.alloc(0)).toString('hex'),
    };
    let current: TpmAttestationJson;
    try {
      current = await this.session.attest(channelBinding(nonce, channel.tlsSpkiSha256, channel.exporter));
    } catch (err) {
      // The register was removed or reset, or the TPM is gone: the session cannot vouch for itself any more.
      send(
        res,
        503,
        { 'content-type': 'text/plain', 'cache-control': 'no-store' },
        Buffer.from(`the serving session cannot be attested: ${(err as Error).message}\n`),
      );
      return;
    }
    const { akPublic, akCertificateChain, nvPublic, trainingCertificate, mediaType, sessionId } = this.head;
    const document = {
      mediaType,
      sessionId,
      nonce,
      channel,
      time: new Date().toISOString(),
      tpm: {
        akPublic,
        ...(akCertificateChain && { akCertificateChain }),
        nvPublic,
        opened: this.opened,
        current,
      },
      eventLog: this.session.records,
      trainingCertificate,
    };
    send(
      res,
      200,
      { 'content-type': 'application/json', 'cache-control': 'no-store' },
      Buffer.from(JSON.stringify(document)),
    );
  }
}

function keysEventOf(keys: SessionKeys): ServeKeysEvent {
  return {
    type: 'serve-keys',
    tls: {
      algorithm: 'ECDSA-P256',
      spki: keys.tls.spki.toString('base64'),
      spkiSha256: keys.tls.spkiSha256.toString('hex'),
    },
    receipt: { algorithm: 'Ed25519', spki: keys.receipt.spki.toString('base64') },
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Polls until the upstream accepts TCP connections. */
async function waitForPort(url: URL): Promise<void> {
  const deadline = Date.now() + UPSTREAM_START_MS;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const s = connect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 80) });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline)
      throw new EnvironmentError(
        'serve.upstream',
        `the inference server did not listen on ${url.host} within ${UPSTREAM_START_MS / 1000} s`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}
