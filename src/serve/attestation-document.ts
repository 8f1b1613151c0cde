import { createHash } from 'node:crypto';
import { z } from 'zod';
import { InputError } from '../errors.js';
import { serveLogSchema, type UntrustedServeRecord } from '../protocol/serve-events.js';
import { canonicalize } from '../util/jcs.js';
import { describeSchemaError } from '../util/schema-error.js';
import { parseJsonObject } from '../util/strict-json.js';

/**
 * What `GET /.well-known/aicert/attestation?nonce=HEX` answers (docs/serving.md): the session's
 * TPM evidence, taken twice (when the session opened, bound to its keys event; and now, bound to
 * the client's nonce and TLS channel), its event log and the training certificate it serves.
 * Everything here is untrusted until `verifyAttestation` (verify-attestation.ts) returns.
 */
export const ATTESTATION_MEDIA_TYPE = 'application/vnd.aicert.serving-attestation.v1+json';
export const ATTESTATION_PATH = '/.well-known/aicert/attestation';
/** RFC 9266's label: the TLS 1.3 exporter value that names one TLS connection. */
export const EXPORTER_LABEL = 'EXPORTER-Channel-Binding';
export const EXPORTER_BYTES = 32;
/** The training certificate rides inside, so the bound is the certificate's own (64 MiB) and then some. */
export const MAX_ATTESTATION_BYTES = 96 * 1024 * 1024;
export const NONCE_MIN_BYTES = 16;
export const NONCE_MAX_BYTES = 64;

const base64Blob = z
  .string()
  .min(1)
  .max(8192)
  .regex(/^[A-Za-z0-9+/]+={0,2}$/);
const hex32 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits');
const tpmAttestation = z.strictObject({
  quote: z.strictObject({
    attest: base64Blob,
    signature: base64Blob,
    pcrs: z.strictObject({ sha256: z.record(z.string().regex(/^(?:1?[0-9]|2[0-3])$/), hex32) }),
  }),
  nvCertification: z.strictObject({ attest: base64Blob, signature: base64Blob }),
});

export const attestationDocumentSchema = z.strictObject({
  mediaType: z.literal(ATTESTATION_MEDIA_TYPE),
  sessionId: z.string().regex(/^[0-9a-f]{32}$/),
  /** The client's nonce, as it asked. */
  nonce: z.string().regex(new RegExp(`^(?:[0-9a-f]{2}){${NONCE_MIN_BYTES},${NONCE_MAX_BYTES}}$`)),
  /** The TLS connection the attestation was asked on, as the server sees it. */
  channel: z.strictObject({ tlsSpkiSha256: hex32, exporter: hex32 }),
  time: z.string().max(64),
  tpm: z.strictObject({
    akPublic: base64Blob,
    akCertificateChain: z.array(base64Blob).max(8).optional(),
    /** TPMS_NV_PUBLIC of the session's register as written. */
    nvPublic: base64Blob,
    /** Taken when the session opened, qualifying data = the digest of the serve-keys event. */
    opened: tpmAttestation,
    /** Taken for this request, qualifying data = channelBinding(nonce, channel). */
    current: tpmAttestation,
  }),
  eventLog: serveLogSchema.min(1),
  /** The training certificate served, base64 (its SHA-256 is in the log). */
  trainingCertificate: z
    .string()
    .max(MAX_ATTESTATION_BYTES)
    .regex(/^[A-Za-z0-9+/]+={0,2}$/),
});
export type AttestationDocument = Omit<z.infer<typeof attestationDocumentSchema>, 'eventLog'> & {
  eventLog: UntrustedServeRecord[];
};

/**
 * The qualifying data of an attestation: one digest of the client's nonce (freshness) and the
 * TLS channel (the server's TLS public key and the connection's exporter value), so a quote
 * relayed by a man in the middle names another channel than the client's own.
 */
export function channelBinding(nonce: string, tlsSpkiSha256: string, exporter: string): Buffer {
  const bound = { purpose: 'aicert serving attestation v1', nonce, tlsSpkiSha256, exporter };
  return createHash('sha256').update(canonicalize(bound), 'utf8').digest();
}

/** Bounded, strict parse of an attestation's bytes (`attestation.schema`). */
export function parseAttestationDocument(bytes: Uint8Array): AttestationDocument {
  const fail = (detail: string) => new InputError('attestation.schema', `not an aicert serving attestation: ${detail}`);
  if (bytes.length > MAX_ATTESTATION_BYTES)
    throw fail(`it is ${bytes.length} bytes, over the ${MAX_ATTESTATION_BYTES}-byte limit`);
  const json = parseJsonObject(bytes, (_problem, detail) => fail(detail));
  const parsed = attestationDocumentSchema.safeParse(json);
  if (!parsed.success) throw fail(describeSchemaError(parsed.error));
  return parsed.data as AttestationDocument;
}
