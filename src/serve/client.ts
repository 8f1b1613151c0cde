/**
 * `aicert/client`: talk to an `aicert serve` endpoint only over connections whose attestation
 * verified, and check the receipt of every answer. Fails closed: a connection that does not
 * attest, an answer without a valid receipt, or a receipt for another exchange is an error,
 * never a response.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request, type RequestOptions } from 'node:https';
import type { Socket } from 'node:net';
import { VerificationError } from '../errors.js';
import { loadTrustAnchors, type TrustAnchors } from '../evidence/ak-trust.js';
import { MAX_CERTIFICATE_BYTES } from '../cert/certificate.js';
import { loadPolicy, type Policy } from '../evidence/policy.js';
import { readBoundedFile } from '../util/bounded-file.js';
import { attestConnection } from './attest-connection.js';
import { CheckedResponse } from './checked-response.js';
import { checkExchange } from './exchange.js';
import { checkReceiptSignature, parseReceipt, RECEIPT_HEADER, type Receipt } from './receipt.js';
import { verifyTrainingCertificate } from './training-certificate.js';
import { readBody } from './upstream-proxy.js';
import type { TrainingCertificate, VerifiedAttestation } from './verify-attestation.js';

export { verifyAttestation, ATTEST_CHECKS, type VerifiedAttestation } from './verify-attestation.js';
export { parseReceipt, checkReceiptSignature, type Receipt } from './receipt.js';

export interface AttestedFetchOptions {
  /** The training certificate the endpoint must serve: its bytes, or a file path. */
  certificate: Uint8Array | string;
  /** Trusted AK CAs: loaded anchors, or a PEM / trust file path. */
  trust: TrustAnchors | string;
  /** Accept an AK no anchor vouches for (testing only). */
  allowUntrustedAk?: boolean;
  /**
   * A policy (loaded, or a YAML file path) the training certificate must meet; its `pinnedAks`
   * and `minAkTrust` apply to the serving host's AK as well, as in `aicert attest --policy`.
   */
  policy?: Policy | string;
  /**
   * How long a pinned connection's attestation is relied on: an idle connection attested longer
   * ago is closed before a request would reuse it, so the next request attests a new one (and a
   * TPM restart or a change of the serving register since is refused). Default 5 minutes.
   */
  maxAttestationAgeMs?: number;
}

const DEFAULT_MAX_ATTESTATION_AGE_MS = 5 * 60_000;

export interface AttestedInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

/** A response whose receipt verified, with that receipt and the attestation of its connection. */
export type AttestedResponse = Response & { receipt: Receipt; attestation: VerifiedAttestation };

/** An answer read but not yet checked (`AttestedClient.send`): `check()` verifies its receipt, once. */
export interface UncheckedAnswer {
  status: number;
  check(): AttestedResponse;
}

/**
 * A client for one training certificate: each new TLS connection is attested before anything is
 * sent on it and then pinned (kept alive and reused, never replaced without a new attestation).
 */
export class AttestedClient {
  private readonly attested = new WeakMap<Socket, VerifiedAttestation>();
  /** When each connection's attestation verified (performance.now()); -Infinity once `reattest` was called. */
  private readonly attestedAt = new WeakMap<Socket, number>();
  private readonly seen = new Map<string, Set<number>>();
  private readonly agent: Agent;

  private constructor(
    private readonly training: TrainingCertificate,
    private readonly trust: TrustAnchors,
    private readonly allowUntrustedAk: boolean,
    private readonly policy: Policy | undefined,
    private readonly maxAttestationAgeMs: number,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: 32 });
    // The agent asks for a socket through this: it is handed over only once its attestation verified.
    (this.agent as unknown as { createConnection: unknown }).createConnection = (
      options: { host?: string; port?: number },
      done: (err: Error | null, socket?: Socket) => void,
    ) => {
      const endpoint = new URL(`https://${formatHost(options.host ?? 'localhost')}:${options.port ?? 443}`);
      attestConnection(endpoint, {
        training: this.training,
        trust: this.trust,
        allowUntrustedAk: this.allowUntrustedAk,
        policy: this.policy,
      }).then(
        (c) => {
          if (!c.attestation) {
            c.socket.destroy();
            const failed = c.report.checks.find((r) => r.status === 'failed');
            done(
              new VerificationError(
                failed?.id ?? 'attestation',
                `${endpoint.origin} did not attest: ${failed ? `${failed.id}: ${failed.reason}` : c.report.verdict}`,
              ),
            );
            return;
          }
          this.attested.set(c.socket, c.attestation);
          this.attestedAt.set(c.socket, performance.now());
          done(null, c.socket);
        },
        (err: Error) => done(err),
      );
      return undefined;
    };
  }

  static async create(o: AttestedFetchOptions): Promise<AttestedClient> {
    const trust = typeof o.trust === 'string' ? await loadTrustAnchors(o.trust) : o.trust;
    const bytes =
      typeof o.certificate === 'string'
        ? await readBoundedFile(o.certificate, MAX_CERTIFICATE_BYTES, 'certificate')
        : o.certificate;
    const name = typeof o.certificate === 'string' ? o.certificate : 'certificate';
    const allow = o.allowUntrustedAk ?? false;
    const policy = typeof o.policy === 'string' ? await loadPolicy(o.policy) : o.policy;
    const training = await verifyTrainingCertificate(bytes, name, { trust, allowUntrustedAk: allow, policy });
    if (!training.run) {
      const failed = training.report.checks.find((c) => c.status === 'failed');
      throw new VerificationError(
        'certificate',
        `the training certificate does not verify: ${failed?.id}: ${failed?.reason}`,
      );
    }
    return new AttestedClient(training, trust, allow, policy, o.maxAttestationAgeMs ?? DEFAULT_MAX_ATTESTATION_AGE_MS);
  }

  async fetch(url: string | URL, init: AttestedInit = {}): Promise<AttestedResponse> {
    return (await this.send(url, init)).check();
  }

  /**
   * Sends one request on an attested connection and reads the whole answer, leaving the receipt
   * check for later: nothing of the answer may be used before `check()` returned (it throws as
   * `fetch` would). For load generators that verify every receipt after a timed window; any other
   * caller wants `fetch`.
   */
  async send(url: string | URL, init: AttestedInit = {}): Promise<UncheckedAnswer> {
    const target = new URL(url);
    if (target.protocol !== 'https:')
      throw new VerificationError('attest.url', `${target.href} is not an https:// URL`);
    const method = (init.method ?? 'GET').toUpperCase();
    const body = init.body === undefined ? Buffer.alloc(0) : Buffer.from(init.body);
    const path = target.pathname + target.search;
    const options: RequestOptions = {
      host: target.hostname.replace(/^\[|\]$/g, ''),
      port: Number(target.port || 443),
      method,
      path,
      headers: { ...init.headers, 'content-length': String(body.length) },
      agent: this.agent,
    };
    // In the same tick as request(): the agent picks a free socket synchronously, after this.
    this.closeStaleConnections();
    const { status, rawHeaders, answer, socket } = await new Promise<{
      status: number;
      rawHeaders: IncomingHttpHeaders;
      answer: Buffer;
      socket: Socket;
    }>((resolve, reject) => {
      const req = request(options, (res) => {
        // Taken now: a kept-alive socket is detached from the response once its body was read.
        const socket = res.socket as Socket;
        readBody(res).then(
          (answer) => resolve({ status: res.statusCode ?? 0, rawHeaders: res.headers, answer, socket }),
          reject,
        );
      });
      req.on('error', reject);
      req.end(body);
    });
    const attestation = this.attested.get(socket);
    return {
      status,
      check: () => {
        if (!attestation)
          throw new VerificationError('attest.connection', 'the answer came on a connection that was not attested');
        const header = rawHeaders[RECEIPT_HEADER];
        const exchange = { method, path, body, status, answer };
        const receipt = this.checkReceipt(typeof header === 'string' ? header : null, attestation, exchange);
        const headers = new Headers();
        for (const [k, v] of Object.entries(rawHeaders))
          if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
        const response = new CheckedResponse(status === 204 || status === 304 ? null : answer, { status, headers });
        return Object.assign(response, { receipt, attestation });
      },
    };
  }

  private checkReceipt(
    header: string | null,
    attestation: VerifiedAttestation,
    x: { method: string; path: string; body: Buffer; status: number; answer: Buffer },
  ): Receipt {
    if (!header)
      throw new VerificationError('receipt.missing', `the answer to ${x.method} ${x.path} carries no receipt`);
    const receipt = parseReceipt(header);
    checkReceiptSignature(receipt, attestation);
    checkExchange(receipt, x);
    const seen = this.seen.get(receipt.sessionId) ?? new Set<number>();
    if (seen.has(receipt.seq))
      throw new VerificationError('receipt.seq', `receipt number ${receipt.seq} of this session was already presented`);
    seen.add(receipt.seq);
    this.seen.set(receipt.sessionId, seen);
    return receipt;
  }

  /**
   * Attest again before the next request: every pinned connection is closed once idle, so each
   * request after this one runs on a connection attested after this call.
   */
  reattest(): void {
    for (const sockets of [...Object.values(this.agent.sockets), ...Object.values(this.agent.freeSockets)])
      for (const socket of sockets ?? []) this.attestedAt.set(socket as Socket, Number.NEGATIVE_INFINITY);
    this.closeStaleConnections();
  }

  /**
   * Idle connections attested too long ago are taken off the agent's free list and closed (taken
   * off, not only destroyed: the agent skips destroyed sockets only at the head of its list).
   */
  private closeStaleConnections(): void {
    const oldest = performance.now() - this.maxAttestationAgeMs;
    const free = this.agent.freeSockets as Record<string, Socket[] | undefined>;
    for (const [name, sockets] of Object.entries(free)) {
      const fresh = (sockets ?? []).filter((socket) => {
        const stale = (this.attestedAt.get(socket) ?? Number.NEGATIVE_INFINITY) <= oldest;
        if (stale) socket.destroy();
        return !stale && !socket.destroyed;
      });
      if (fresh.length > 0) free[name] = fresh;
      else delete free[name];
    }
  }

  close(): void {
    this.agent.destroy();
  }
}

const clients = new WeakMap<AttestedFetchOptions, Promise<AttestedClient>>();

/**
 * `fetch` for an attested endpoint: the first call with an options object verifies the training
 * certificate and keeps a client for it; every connection is attested before use.
 */
export async function attestedFetch(
  url: string | URL,
  init: AttestedInit | undefined,
  options: AttestedFetchOptions,
): Promise<AttestedResponse> {
  let client = clients.get(options);
  if (!client) {
    client = AttestedClient.create(options);
    clients.set(options, client);
  }
  return (await client).fetch(url, init);
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
