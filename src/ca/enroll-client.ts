import type { z } from 'zod';
import { type AicertError, EnvironmentError, InputError, VerificationError } from '../errors.js';
import { decodeBase64Strict, encodeBase64 } from '../util/base64.js';
import { describeSchemaError } from '../util/schema-error.js';
import { parseCertificatesPem } from '../pki/x509-path.js';
import { evaluateAkTrust } from '../evidence/ak-trust.js';
import type { Tpm } from '../tpm/client.js';
import { createAk, createEk, EK_CERTIFICATE_INDEX, readEkCertificate, type EkKind } from '../tpm/keys.js';
import { public2b } from '../tpm/public.js';
import { storeAkCertificateChain } from './ak-store.js';
import { openCa } from './ca-directory.js';
import { EnrollmentAuthority } from './enrollment.js';
import {
  ENROLL_FINISH_PATH,
  ENROLL_START_PATH,
  enrollChallengeSchema,
  enrollResultSchema,
  errorBodySchema,
  type EnrollChallenge,
  type EnrollFinish,
  type EnrollResult,
  type EnrollStart,
} from './protocol.js';

/** Where the CA is: an HTTP server (`aicert ca serve`), or a CA directory used in-process. */
export interface CaEndpoint {
  description: string;
  start(request: EnrollStart): Promise<EnrollChallenge>;
  finish(request: EnrollFinish): Promise<EnrollResult>;
}

/** `--ca URL|DIR`: http(s):// URLs are servers, anything else a CA directory. */
export async function openCaEndpoint(ca: string): Promise<CaEndpoint> {
  if (/^https?:\/\//i.test(ca)) return httpCaEndpoint(ca);
  const authority = new EnrollmentAuthority(await openCa(ca));
  return { description: `the CA in ${ca}`, start: (r) => authority.start(r), finish: (r) => authority.finish(r) };
}

const MAX_RESPONSE_BYTES = 256 * 1024;
const REQUEST_TIMEOUT_MS = 30_000;

export function httpCaEndpoint(baseUrl: string): CaEndpoint {
  const post = async <T>(path: string, body: unknown, schema: z.ZodType<T>): Promise<T> => {
    const url = new URL(path, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`).toString();
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw new EnvironmentError(
        'enroll.unreachable',
        `cannot reach the CA at ${url}: ${(err as Error).cause ?? (err as Error).message}`,
        { cause: err },
      );
    }
    const text = await readBounded(response, url);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new EnvironmentError(
        'enroll.bad-response',
        `the CA at ${url} answered HTTP ${response.status} with a body that is not JSON`,
      );
    }
    if (!response.ok) throw caError(response.status, json, url);
    const parsed = schema.safeParse(json);
    if (!parsed.success)
      throw new EnvironmentError(
        'enroll.bad-response',
        `the CA at ${url} sent a malformed answer: ${describeSchemaError(parsed.error)}`,
      );
    return parsed.data;
  };
  return {
    description: `the CA at ${baseUrl}`,
    start: (r) => post(ENROLL_START_PATH, r, enrollChallengeSchema),
    finish: (r) => post(ENROLL_FINISH_PATH, r, enrollResultSchema),
  };
}

async function readBounded(response: Response, url: string): Promise<string> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body ?? []) {
    total += chunk.length;
    if (total > MAX_RESPONSE_BYTES)
      throw new EnvironmentError('enroll.bad-response', `the CA at ${url} sent more than ${MAX_RESPONSE_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The CA's refusal as the same error class it raised: 403 not verified, 429 and 5xx environment, other 4xx bad input. */
function caError(status: number, body: unknown, url: string): AicertError {
  const parsed = errorBodySchema.safeParse(body);
  const code = parsed.success ? parsed.data.error.code : 'enroll.http';
  const message = `the CA refused the enrollment: ${parsed.success ? parsed.data.error.message : `HTTP ${status} from ${url}`}`;
  if (status === 403) return new VerificationError(code, message);
  if (status === 429) return new EnvironmentError(code, message); // rate-limited: the message says when to try again
  if (status >= 400 && status < 500) return new InputError(code, message);
  return new EnvironmentError(code, message);
}

export interface EnrollOptions {
  tpm: Tpm;
  endpoint: CaEndpoint;
  /** Which EK proves the TPM: the RSA one (default) or the ECC P-256 one. */
  ek?: EkKind;
  /** EK intermediate CA certificates (DER) to send along, for CAs that lack them. */
  ekIntermediates?: readonly Uint8Array[];
}

export interface Enrollment {
  akName: Buffer;
  /** DER certificates, the AK's first. */
  chain: Buffer[];
  chainPath: string;
  subject: string;
  issuer: string;
  notAfter: Date;
}

/**
 * The TPM side of enrollment: sends the EK certificate, EK and AK publics; opens the CA's
 * credential with ActivateCredential (which the TPM does only for this EK and this AK's exact
 * Name); returns the secret; checks that the certificate received certifies this AK; stores the
 * chain under $AICERT_HOME/ak/<Name>/. Nothing is stored unless all of that succeeded.
 */
export async function enrollAk(options: EnrollOptions): Promise<Enrollment> {
  const { tpm, endpoint } = options;
  const kind = options.ek ?? 'rsa';
  const ekCertificate = await readEkCertificate(tpm, kind);
  if (!ekCertificate) {
    throw new EnvironmentError(
      'enroll.no-ek-certificate',
      `the TPM has no ${kind.toUpperCase()} EK certificate at NV 0x${EK_CERTIFICATE_INDEX[kind].toString(16)}` +
        (kind === 'ecc' ? '; try --ek rsa' : ''),
    );
  }
  const ek = await createEk(tpm, kind);
  return tpm.withTransient(ek.handle, async () => {
    const ak = await createAk(tpm);
    return tpm.withTransient(ak.handle, async () => {
      const challenge = await endpoint.start({
        ekCertificate: encodeBase64(ekCertificate),
        ekPublic: encodeBase64(public2b(ek.public.bytes)),
        akPublic: encodeBase64(public2b(ak.public.bytes)),
        ...(options.ekIntermediates?.length && { ekIntermediates: options.ekIntermediates.map(encodeBase64) }),
      });
      const secret = await tpm.activateCredential(
        ak.handle,
        ek.handle,
        decodeBase64Strict(challenge.credentialBlob, 'credentialBlob'),
        decodeBase64Strict(challenge.encryptedSecret, 'encryptedSecret'),
      );
      const result = await endpoint.finish({ session: challenge.session, secret: encodeBase64(secret) });
      const chain = parseCertificatesPem(result.certificateChain, `the chain from ${endpoint.description}`);
      // Not a trust decision (that is the verifier's): a check that the CA certified this AK.
      const own = evaluateAkTrust(
        ak.public,
        chain.map((c) => c.der),
        { roots: chain.slice(-1), pinnedAks: [] },
        new Date(),
      );
      if (own.level !== 'ca') {
        throw new VerificationError(
          'enroll.bad-certificate',
          `${endpoint.description} returned a certificate chain that does not certify this AK: ${own.reason}`,
        );
      }
      const chainPath = await storeAkCertificateChain(ak.name, chain.map((c) => c.node.toString()).join(''));
      return {
        akName: ak.name,
        chain: chain.map((c) => c.der),
        chainPath,
        subject: own.subject!,
        issuer: own.issuer!,
        notAfter: chain[0]!.notAfter,
      };
    });
  });
}
