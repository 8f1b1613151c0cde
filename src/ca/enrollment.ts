import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import type { z } from 'zod';
import { EnvironmentError, InputError, VerificationError } from '../errors.js';
import { decodeBase64Strict, encodeBase64 } from '../util/base64.js';
import { describeSchemaError } from '../util/schema-error.js';
import { extractEkCertificateDer, validateEkCertificate } from '../evidence/ek-certificate.js';
import { checkAkForActivation, makeCredential } from '../tpm/credential.js';
import { TPM_ALG, TPM_ECC_CURVE } from '../tpm/constants.js';
import { objectName, parsePublic2b, publicKeyObject, type PublicArea } from '../tpm/public.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { CA_FILES, type AttestationCa } from './ca-directory.js';
import { createAkCertificate } from './certificates.js';
import { RateLimited, RateLimiter } from './rate-limit.js';
import { enrollFinishSchema, enrollStartSchema, type EnrollChallenge, type EnrollResult } from './protocol.js';

/**
 * The CA side of AK enrollment (docs/attestation-ca.md). `start` checks that the EK
 * certificate chains to one of the CA's EK roots and certifies the EK public key sent, that
 * the AK is a non-exportable restricted signing key, and answers with a credential for the
 * AK's Name encrypted to the EK. Only the TPM holding that EK, with that exact AK loaded, can
 * open it. `finish` issues the AK certificate if and only if the client returns the secret.
 * Sessions live in memory, expire after 5 minutes and are used once, whatever the outcome;
 * how many may be pending, per EK and per client, and how fast clients may start them, is
 * bounded (EnrollmentLimits).
 */
export const SESSION_LIFETIME_MS = 5 * 60 * 1000;
const SECRET_BYTES = 32;

/**
 * Bounds on sessions and their rate (docs/attestation-ca.md, "Limits"). An EK certificate is
 * public, so anyone can start sessions in a genuine TPM's name: the bounds keep one client, or
 * one EK, from holding more than a few of the sessions a genuine enrollment needs.
 */
export interface EnrollmentLimits {
  /** Sessions pending at most, over all clients (memory). */
  maxPending: number;
  /** Sessions pending per EK; a further start for that EK ends its oldest session. */
  pendingPerEk: number;
  /** Sessions pending per client address (over HTTP); a further start is refused. */
  pendingPerClient: number;
  /** Starts per client address (over HTTP). */
  clientRate: { burst: number; perMinute: number };
  /** Starts per EK with a valid certificate, from clients over HTTP. */
  ekRate: { burst: number; perMinute: number };
  /** Clients and EKs whose rates are tracked at most. */
  maxTracked: number;
}

export const DEFAULT_ENROLLMENT_LIMITS: EnrollmentLimits = {
  maxPending: 1024,
  pendingPerEk: 4,
  pendingPerClient: 16,
  clientRate: { burst: 10, perMinute: 10 },
  // Above one client's rate, so that one client alone cannot use up a genuine TPM's starts.
  ekRate: { burst: 20, perMinute: 20 },
  maxTracked: 65_536,
};

interface PendingSession {
  akPublic: PublicArea;
  akName: Buffer;
  ek: IssuanceRecord['ek'];
  /** SHA-256 of the EK's Name (the key sessions and rates per EK are counted by). */
  ekKey: string;
  /** The client's address key (rate-limit.ts), when it came over HTTP. */
  client: string | undefined;
  secret: Buffer;
  expiresAt: number;
}

/** One line of the issuance log, `issued/<serial>.json`. */
export interface IssuanceRecord {
  issuedAt: string;
  serialNumber: string;
  akName: string;
  subject: string;
  notBefore: string;
  notAfter: string;
  ek: { subject: string; issuer: string; serialNumber: string; certificateSha256: string };
  certificate: string;
}

export interface AuthorityOptions {
  /** The clock (tests move it past session expiry). */
  now?: () => Date;
  /** Told one line per certificate issued or enrollment refused. */
  log?: (line: string) => void;
  /** Overrides of DEFAULT_ENROLLMENT_LIMITS. */
  limits?: Partial<EnrollmentLimits>;
}

export class EnrollmentAuthority {
  private readonly pending = new Map<string, PendingSession>();
  private readonly now: () => Date;
  private readonly limits: EnrollmentLimits;
  private readonly clientRates: RateLimiter;
  private readonly ekRates: RateLimiter;

  constructor(
    readonly ca: AttestationCa,
    private readonly options: AuthorityOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.limits = { ...DEFAULT_ENROLLMENT_LIMITS, ...options.limits };
    this.clientRates = new RateLimiter({ ...this.limits.clientRate, maxKeys: this.limits.maxTracked });
    this.ekRates = new RateLimiter({ ...this.limits.ekRate, maxKeys: this.limits.maxTracked });
  }

  /**
   * Step 1: validate the EK and AK, answer with a credential for the AK's Name. `client` is the
   * key of the client's address (rate-limit.ts clientKey) when the request came over HTTP; the
   * rate limits apply to such requests, not to in-process enrollment by the CA's operator.
   */
  start(message: unknown, client?: string): Promise<EnrollChallenge> {
    return this.logRefusals(() => this.challenge(message, client));
  }

  /** Sessions started and neither finished nor expired. */
  get sessionsPending(): number {
    this.forgetExpired(this.now().getTime());
    return this.pending.size;
  }

  /** Step 2: compare the activated secret in constant time; only then issue the certificate. */
  finish(message: unknown): Promise<EnrollResult> {
    return this.logRefusals(() => this.issue(message));
  }

  private async challenge(message: unknown, client: string | undefined): Promise<EnrollChallenge> {
    const now = this.now();
    // Before any parsing or cryptography: what a client may cost the CA is bounded first.
    if (client !== undefined) {
      const wait = this.clientRates.take(client, now.getTime());
      if (wait > 0) throw new RateLimited(`too many enrollments started from ${client}`, wait);
    }
    const request = parseMessage(enrollStartSchema, message, 'enrollment request');
    const ekPublic = decodePublic(request.ekPublic, 'ekPublic');
    const akPublic = decodePublic(request.akPublic, 'akPublic');
    const ekCertificate = extractEkCertificateDer(decodeBase64Strict(request.ekCertificate, 'ekCertificate'));
    const ek = validateEkCertificate(ekCertificate, {
      ekPublic,
      roots: this.ca.ekRoots.map((c) => c.der),
      intermediates: [
        ...this.ca.ekIntermediates.map((c) => c.der),
        ...(request.ekIntermediates ?? []).map((c, i) => decodeBase64Strict(c, `ekIntermediates[${i}]`)),
      ],
      at: now,
    });
    checkAttestationKey(akPublic);
    const ekKey = createHash('sha256').update(objectName(ekPublic)).digest('hex');
    this.admit(ekKey, client, now.getTime());
    const secret = randomBytes(SECRET_BYTES);
    const credential = makeCredential(ekPublic, akPublic, secret);
    const session = randomBytes(32).toString('hex');
    const expiresAt = now.getTime() + SESSION_LIFETIME_MS;
    this.pending.set(session, {
      akPublic,
      akName: objectName(akPublic),
      ek: {
        subject: ek.subject,
        issuer: ek.issuer,
        serialNumber: ek.serialNumber,
        certificateSha256: createHash('sha256').update(ekCertificate).digest('hex'),
      },
      ekKey,
      client,
      secret,
      expiresAt,
    });
    return {
      session,
      credentialBlob: encodeBase64(credential.credentialBlob),
      encryptedSecret: encodeBase64(credential.encryptedSecret),
      expiresAt: new Date(expiresAt).toISOString(),
    };
  }

  private async issue(message: unknown): Promise<EnrollResult> {
    const request = parseMessage(enrollFinishSchema, message, 'enrollment answer');
    const session = this.pending.get(request.session);
    this.pending.delete(request.session);
    if (!session) {
      throw new VerificationError(
        'enroll.session',
        'unknown enrollment session: it was never started, was already used, or the CA restarted; enroll again',
      );
    }
    const now = this.now();
    if (now.getTime() > session.expiresAt) {
      throw new VerificationError(
        'enroll.session-expired',
        `the enrollment session expired at ${new Date(session.expiresAt).toISOString()}; enroll again`,
      );
    }
    const secret = decodeBase64Strict(request.secret, 'secret');
    if (secret.length !== session.secret.length || !timingSafeEqual(secret, session.secret)) {
      throw new VerificationError(
        'enroll.activation',
        `the returned secret is not the credential's: the TPM holding the EK "${session.ek.subject}" did not activate it for AK ${session.akName.toString('hex')}`,
      );
    }
    const certificate = await createAkCertificate({
      akPublic: session.akPublic,
      caCertificate: this.ca.certificate,
      caKey: this.ca.key,
      now,
    });
    const pem = certificate.toString('pem') + '\n';
    const record: IssuanceRecord = {
      issuedAt: now.toISOString(),
      serialNumber: certificate.serialNumber,
      akName: session.akName.toString('hex'),
      subject: certificate.subject,
      notBefore: certificate.notBefore.toISOString(),
      notAfter: certificate.notAfter.toISOString(),
      ek: session.ek,
      certificate: pem,
    };
    await writeFileAtomic(
      join(this.ca.dir, CA_FILES.issued, `${record.serialNumber}.json`),
      JSON.stringify(record, null, 2) + '\n',
    );
    this.options.log?.(
      `issued AK certificate ${record.serialNumber} for AK ${record.akName} (EK certificate "${record.ek.subject}" issued by "${record.ek.issuer}")`,
    );
    return { akName: record.akName, certificateChain: pem + this.ca.certificatePem };
  }

  /**
   * Makes room for one more session of the EK `ekKey` (certificate already validated) from
   * `client`, or refuses: per-EK rate, then the per-client and global bounds; a full per-EK
   * quota ends that EK's oldest session, so that flooding an EK's name cannot lock its TPM out.
   */
  private admit(ekKey: string, client: string | undefined, now: number): void {
    if (client !== undefined) {
      const wait = this.ekRates.take(ekKey, now);
      if (wait > 0) throw new RateLimited('too many enrollments started for this EK', wait);
    }
    this.forgetExpired(now);
    const sessions = [...this.pending.entries()];
    const sameClient = client === undefined ? [] : sessions.filter(([, s]) => s.client === client);
    if (sameClient.length >= this.limits.pendingPerClient) {
      const firstExpiry = Math.min(...sameClient.map(([, s]) => s.expiresAt));
      throw new RateLimited(
        `${sameClient.length} enrollments from ${client} are in progress`,
        Math.max(1, Math.ceil((firstExpiry - now) / 1000)),
      );
    }
    const sameEk = sessions.filter(([, s]) => s.ekKey === ekKey);
    // Map order is start order: the first ones are the oldest.
    for (const [id] of sameEk.slice(0, Math.max(0, sameEk.length - this.limits.pendingPerEk + 1)))
      this.pending.delete(id);
    if (this.pending.size >= this.limits.maxPending) {
      throw new EnvironmentError(
        'enroll.busy',
        `the CA has ${this.limits.maxPending} enrollments in progress; try again in a few minutes`,
      );
    }
  }

  private forgetExpired(now: number): void {
    for (const [id, s] of this.pending) if (now > s.expiresAt) this.pending.delete(id);
  }

  /** The operator sees every refused enrollment (bad EK chain, failed activation, stale session). */
  private async logRefusals<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (err) {
      if (err instanceof VerificationError) this.options.log?.(`refused: ${err.message} [${err.code}]`);
      throw err;
    }
  }
}

/**
 * An AK the CA certifies: restricted, sign-only, fixedTPM and fixedParent (so the TPM will not
 * let it leave or sign outside data), with a key the certificate can carry: ECC P-256 or RSA
 * of at least 2048 bits.
 */
function checkAttestationKey(ak: PublicArea): void {
  checkAkForActivation(ak.public);
  if (ak.public.type === TPM_ALG.ECC && ak.public.parameters.curve !== TPM_ECC_CURVE.NIST_P256) {
    throw new VerificationError(
      'ak.attributes',
      `the attestation key's ECC curve 0x${ak.public.parameters.curve.toString(16)} is not NIST P-256`,
    );
  }
  publicKeyObject(ak.public); // refuses an ECC point off its curve
}

function decodePublic(text: string, what: string): PublicArea {
  return parsePublic2b(decodeBase64Strict(text, what));
}

function parseMessage<T>(schema: z.ZodType<T>, message: unknown, what: string): T {
  const result = schema.safeParse(message);
  if (!result.success)
    throw new InputError('enroll.malformed', `the ${what} is malformed: ${describeSchemaError(result.error)}`);
  return result.data;
}
