import { z } from 'zod';
import { InputError } from '../../errors.js';
import { decodeBase64Strict, encodeBase64 } from '../../util/base64.js';
import { dsseEnvelopeToJson, parseDsseEnvelope, type DsseEnvelope } from '../dsse.js';
import { IN_TOTO_PAYLOAD_TYPE } from '../intoto.js';
import { describeSchemaError } from '../../util/schema-error.js';

/**
 * The Sigstore bundle v0.3 that carries an OMS signature (`model.sig`): verification material
 * plus one DSSE envelope. Parsing is structural only: nothing here is trusted until
 * `verify.ts` has checked the signature.
 */

export const SIGSTORE_BUNDLE_V03_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

/**
 * Upper bound on a bundle file. A shard manifest of a multi-terabyte model with small shards
 * is a few hundred MB of JSON at most; anything larger is refused before it is read.
 */
export const MAX_BUNDLE_BYTES = 256 * 1024 * 1024;

/**
 * How the bundle names its signer (spec §4.1):
 * - `key`: a public key the verifier must already hold; `hint` is hex SHA-256 of its PEM SPKI
 *   (v1.1.0+), older bundles carry the key itself in `rawBytes` (base64 of the PEM text).
 * - `certificate`: an X.509 chain, leaf first, DER.
 * - `sigstore`: a Fulcio certificate and Rekor entries (parsed, not verified by aicert).
 */
export type VerificationMaterial =
  | { method: 'key'; hint?: string; rawBytes?: Buffer; keyDetails?: string }
  | { method: 'certificate'; chain: Buffer[] }
  | { method: 'sigstore'; certificate: Buffer; tlogEntryCount: number };

export interface OmsBundle {
  mediaType: string;
  material: VerificationMaterial;
  envelope: DsseEnvelope;
}

const rawBytesSchema = z.strictObject({ rawBytes: z.string().min(1) });

const verificationMaterialSchema = z
  .strictObject({
    publicKey: z
      .strictObject({
        hint: z.string().min(1).optional(),
        rawBytes: z.string().min(1).optional(),
        keyDetails: z.string().min(1).optional(),
      })
      .refine((k) => k.hint !== undefined || k.rawBytes !== undefined, {
        message: 'publicKey needs a hint or rawBytes',
      })
      .optional(),
    x509CertificateChain: z.strictObject({ certificates: z.array(rawBytesSchema).min(1) }).optional(),
    certificate: rawBytesSchema.optional(),
    // Transparency-log and timestamp data belong to Sigstore; aicert only counts log entries.
    tlogEntries: z.array(z.looseObject({})).optional(),
    timestampVerificationData: z.looseObject({}).optional(),
  })
  .refine((m) => [m.publicKey, m.x509CertificateChain, m.certificate].filter((x) => x !== undefined).length === 1, {
    message: 'exactly one of publicKey, x509CertificateChain and certificate is required',
  });

const bundleSchema = z.strictObject({
  mediaType: z.string(),
  verificationMaterial: z.unknown(),
  dsseEnvelope: z.unknown(),
});

/** Parses `model.sig` bytes; every refusal is an `oms.bundle.*` InputError naming the reason. */
export function parseOmsBundle(bytes: Uint8Array): OmsBundle {
  if (bytes.length > MAX_BUNDLE_BYTES) {
    throw new InputError(
      'oms.bundle.too-large',
      `the signature bundle is ${bytes.length} bytes, over the ${MAX_BUNDLE_BYTES}-byte limit`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new InputError(
      'oms.bundle.not-json',
      bytes.length === 0 ? 'the signature bundle is empty' : 'the signature bundle is not UTF-8 JSON',
      { cause: err },
    );
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InputError('oms.bundle.shape', 'the signature bundle is not a JSON object');
  }
  const record = json as Record<string, unknown>;
  if (record.mediaType !== SIGSTORE_BUNDLE_V03_MEDIA_TYPE) {
    throw new InputError(
      'oms.bundle.media-type',
      `the bundle media type is ${JSON.stringify(record.mediaType)}, expected ${SIGSTORE_BUNDLE_V03_MEDIA_TYPE}`,
    );
  }
  if (record.verificationMaterial === undefined) {
    throw new InputError('oms.bundle.missing-verification-material', 'the bundle has no verificationMaterial');
  }
  if (record.dsseEnvelope === undefined) {
    throw new InputError('oms.bundle.missing-envelope', 'the bundle has no dsseEnvelope (OMS signs a DSSE envelope)');
  }
  const top = bundleSchema.safeParse(json);
  if (!top.success) {
    throw new InputError('oms.bundle.shape', `the bundle is malformed: ${describeSchemaError(top.error)}`);
  }
  const material = parseVerificationMaterial(top.data.verificationMaterial);
  const envelope = parseDsseEnvelope(top.data.dsseEnvelope);
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new InputError(
      'oms.bundle.payload-type',
      `the envelope payload type is ${JSON.stringify(envelope.payloadType)}, expected ${IN_TOTO_PAYLOAD_TYPE}`,
    );
  }
  if (envelope.signatures.length !== 1) {
    throw new InputError(
      'oms.bundle.signatures',
      `a Sigstore bundle carries exactly one signature, this one has ${envelope.signatures.length}`,
    );
  }
  return { mediaType: SIGSTORE_BUNDLE_V03_MEDIA_TYPE, material, envelope };
}

function parseVerificationMaterial(json: unknown): VerificationMaterial {
  const parsed = verificationMaterialSchema.safeParse(json);
  if (!parsed.success) {
    throw new InputError(
      'oms.bundle.verification-material',
      `the bundle's verificationMaterial is malformed: ${describeSchemaError(parsed.error)}`,
    );
  }
  const m = parsed.data;
  if (m.publicKey) {
    const { hint, rawBytes, keyDetails } = m.publicKey;
    if (hint !== undefined && !/^[0-9a-f]{64}$/.test(hint)) {
      throw new InputError('oms.bundle.verification-material', 'the public key hint is not a hex SHA-256 digest');
    }
    return {
      method: 'key',
      ...(hint !== undefined && { hint }),
      ...(rawBytes !== undefined && { rawBytes: decodeBase64Strict(rawBytes, 'publicKey.rawBytes') }),
      ...(keyDetails !== undefined && { keyDetails }),
    };
  }
  if (m.x509CertificateChain) {
    return {
      method: 'certificate',
      chain: m.x509CertificateChain.certificates.map((c, i) =>
        decodeBase64Strict(c.rawBytes, `certificate ${i} of the chain`),
      ),
    };
  }
  if (m.certificate) {
    // Spec §4.1: the sigstore method MUST carry at least one transparency-log entry.
    if (!m.tlogEntries || m.tlogEntries.length === 0) {
      throw new InputError(
        'oms.bundle.sigstore-without-tlog-entries',
        'the bundle uses the sigstore method (a single certificate) but has no tlogEntries',
      );
    }
    return {
      method: 'sigstore',
      certificate: decodeBase64Strict(m.certificate.rawBytes, 'certificate'),
      tlogEntryCount: m.tlogEntries.length,
    };
  }
  throw new Error('unreachable: the schema requires one kind of verification material');
}

/** The bundle JSON in the reference tool's v1.1.0 layout (compact, `tlogEntries: []`). */
export function serializeOmsBundle(
  material: { method: 'key'; hint: string } | { method: 'certificate'; chain: Buffer[] },
  envelope: DsseEnvelope,
): Buffer {
  const verificationMaterial =
    material.method === 'key'
      ? { publicKey: { hint: material.hint }, tlogEntries: [] }
      : {
          x509CertificateChain: { certificates: material.chain.map((der) => ({ rawBytes: encodeBase64(der) })) },
          tlogEntries: [],
        };
  return Buffer.from(
    JSON.stringify({
      mediaType: SIGSTORE_BUNDLE_V03_MEDIA_TYPE,
      verificationMaterial,
      dsseEnvelope: dsseEnvelopeToJson(envelope),
    }),
    'utf8',
  );
}
