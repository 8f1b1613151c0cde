import { z } from 'zod';
import { InputError } from '../errors.js';
import { celRecordSchema } from '../protocol/event-log.js';
import { findDuplicateKey } from '../util/strict-json.js';
import { dsseEnvelopeJsonSchema } from './dsse.js';
import { describeSchemaError } from '../util/schema-error.js';
import { MAX_BOOT_LOG_BYTES } from '../evidence/boot-log/tcg-log.js';
import { groupCommitmentSchema, MAX_GROUP_NODES } from '../protocol/group-commitment.js';

/**
 * The aicert certificate file, `<model>.aicert.json` (docs/certificate.md):
 *
 *   { mediaType, statement: DSSE envelope of an in-toto Statement v1 (SLSA Provenance v1),
 *     evidence: { tpm: { nv | pcr, akPublic, akCertificateChain?, quotes: [start, end], bootLog?, eventLog },
 *                 group?: { commitment, nodes: [{ rank, statement, tpm }] } } }
 *
 * `nv` (the default register): the NV extend index's public area and its two NV_Certify
 * attestations; `pcr` (the `--register pcr23` fallback, and certificates made before NV
 * registers): the application PCR, whose values the quotes carry.
 *
 * Nothing in it is trusted as parsed: the verifier checks every quote, the event log and the
 * statement against each other. Parsing only bounds sizes and fixes the shape.
 */
export const CERTIFICATE_MEDIA_TYPE = 'application/vnd.aicert.certificate.v1+json';

/** Bounds on untrusted certificate files. */
export const MAX_CERTIFICATE_BYTES = 64 * 1024 * 1024;
const MAX_B64_BLOB = 8192;

const base64Blob = z.string().min(1).max(MAX_B64_BLOB);
const hex32 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits');

export const PHASES = ['start', 'end'] as const;
export type QuotePhase = (typeof PHASES)[number];

const quoteSchema = z.strictObject({
  phase: z.enum(PHASES),
  /** base64 TPMS_ATTEST. */
  attest: base64Blob,
  /** base64 TPMT_SIGNATURE. */
  signature: base64Blob,
  /** PCR values the quote covers, by bank then index: { sha256: { "0": hex, … } }. */
  pcrs: z.strictObject({
    sha256: z.record(z.string().regex(/^(?:1?[0-9]|2[0-3])$/, 'expected a PCR index 0-23'), hex32),
  }),
});
export type CertificateQuote = z.infer<typeof quoteSchema>;

/** One NV_Certify of the run's NV extend index by the AK. */
const nvCertificationSchema = z.strictObject({
  phase: z.enum(PHASES),
  /** base64 TPMS_ATTEST (type NV). */
  attest: base64Blob,
  /** base64 TPMT_SIGNATURE. */
  signature: base64Blob,
});
export type CertificateNvCertification = z.infer<typeof nvCertificationSchema>;

/** The NV extend index the run measured into, and its value at the commitment and at the end. */
const nvRegisterSchema = z.strictObject({
  /** base64 TPMS_NV_PUBLIC of the index as written (its Name is nameAlg ‖ H of these bytes). */
  public: base64Blob,
  certifications: z.tuple([nvCertificationSchema, nvCertificationSchema]),
});
export type CertificateNvRegister = z.infer<typeof nvRegisterSchema>;

/** The statement envelope: TPM quotes, not DSSE signatures, vouch for it; signatures are optional extras. */
const statementEnvelopeSchema = dsseEnvelopeJsonSchema.extend({
  signatures: dsseEnvelopeJsonSchema.shape.signatures.unwrap().array().max(16),
});

/** One TPM's evidence of a run: its register, AK, quotes, boot log and event log. */
const tpmEvidenceSchema = z.strictObject({
  /** The NV extend index the run extended (the default register); exactly one of `nv` and `pcr`. */
  nv: nvRegisterSchema.optional(),
  /** The application PCR the run extended (`--register pcr23`). */
  pcr: z.number().int().min(0).max(23).optional(),
  /** base64 TPM2B_PUBLIC of the attestation key. */
  akPublic: base64Blob,
  /** base64 DER certificates, leaf (the AK's) first; absent when the AK was never enrolled. */
  akCertificateChain: z.array(base64Blob).min(1).max(8).optional(),
  quotes: z.tuple([quoteSchema, quoteSchema]),
  /**
   * base64 TCG binary boot event log (the firmware's `binary_bios_measurements`) when the run
   * found one; the quotes then also cover the PCRs 0–15 it extends (docs/boot-log.md).
   */
  bootLog: z
    .string()
    .min(1)
    .max(Math.ceil(MAX_BOOT_LOG_BYTES / 3) * 4)
    .optional(),
  eventLog: z.array(celRecordSchema).min(1).max(100_000),
});
export type CertificateTpmEvidence = z.infer<typeof tpmEvidenceSchema>;

/** Another node of a group run (ranks 1 … N−1): its statement and evidence, as in its own certificate. */
const groupNodeSchema = z.strictObject({
  rank: z
    .number()
    .int()
    .min(1)
    .max(MAX_GROUP_NODES - 1),
  statement: statementEnvelopeSchema,
  tpm: tpmEvidenceSchema,
});
export type CertificateGroupNode = z.infer<typeof groupNodeSchema>;

export const certificateSchema = z.strictObject({
  mediaType: z.literal(CERTIFICATE_MEDIA_TYPE),
  statement: statementEnvelopeSchema,
  evidence: z.strictObject({
    /** The evidence of this run, or of rank 0 of a group run. */
    tpm: tpmEvidenceSchema,
    /** A multi-node run (docs/distributed.md): the group commitment and every other node's evidence. */
    group: z
      .strictObject({
        commitment: groupCommitmentSchema,
        nodes: z.array(groupNodeSchema).max(MAX_GROUP_NODES - 1),
      })
      .optional(),
  }),
});
export type AicertCertificate = z.infer<typeof certificateSchema>;

/**
 * Parses certificate bytes: bounded size, UTF-8, JSON without duplicate keys, then the schema.
 * Failures are `InputError`s with code `bundle.schema` (the verifier's first check).
 */
export function parseCertificate(bytes: Uint8Array): AicertCertificate {
  const fail = (detail: string) => new InputError('bundle.schema', `not a valid aicert certificate: ${detail}`);
  if (bytes.length > MAX_CERTIFICATE_BYTES)
    throw fail(`it is ${bytes.length} bytes, over the ${MAX_CERTIFICATE_BYTES}-byte limit`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw fail('it is not UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text, rejectProtoKeys);
  } catch (err) {
    throw fail(`it is not JSON (${(err as Error).message})`);
  }
  const duplicate = findDuplicateKey(text);
  if (duplicate !== undefined) throw fail(`it repeats the key "${duplicate}" in one object`);
  const parsed = certificateSchema.safeParse(json);
  if (!parsed.success) throw fail(describeSchemaError(parsed.error));
  const cert = parsed.data;
  checkTpmEvidenceShape(cert.evidence.tpm, 'evidence.tpm', fail);
  for (const node of cert.evidence.group?.nodes ?? [])
    checkTpmEvidenceShape(node.tpm, `evidence.group.nodes (rank ${node.rank}).tpm`, fail);
  return cert;
}

function checkTpmEvidenceShape(tpm: CertificateTpmEvidence, where: string, fail: (detail: string) => Error): void {
  const [first, second] = tpm.quotes;
  if (first.phase !== 'start' || second.phase !== 'end')
    throw fail(`${where}: quotes must be [start, end] in that order`);
  const { nv, pcr } = tpm;
  if ((nv === undefined) === (pcr === undefined))
    throw fail(`${where} must name exactly one register: "nv" (an NV extend index) or "pcr"`);
  if (nv && (nv.certifications[0].phase !== 'start' || nv.certifications[1].phase !== 'end'))
    throw fail(`${where}: NV certifications must be [start, end] in that order`);
}

/**
 * A `__proto__` member is legal JSON, but schema libraries drop or skip it, so content could
 * carry text that no check ever saw. Certificates never need one: refuse it.
 */
function rejectProtoKeys(key: string, value: unknown): unknown {
  if (key === '__proto__') throw new SyntaxError('a "__proto__" member is not allowed');
  return value;
}

export function serializeCertificate(cert: AicertCertificate): string {
  return JSON.stringify(cert, null, 2) + '\n';
}
