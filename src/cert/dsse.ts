import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { InputError } from '../errors.js';
import { decodeBase64Strict, encodeBase64 } from '../util/base64.js';
import { describeSchemaError } from '../util/schema-error.js';

/**
 * DSSE (Dead Simple Signing Envelope, secure-systems-lab/dsse protocol v1.0.2): a signature
 * over PAE(payloadType, payload), so the type is authenticated with the bytes and the payload
 * is never re-serialised before checking.
 */

/** The envelope as it appears in JSON. `keyid` is an unauthenticated hint; null is tolerated. */
export const dsseEnvelopeJsonSchema = z.strictObject({
  payload: z.string().min(1),
  payloadType: z.string().min(1),
  signatures: z
    .array(
      z.strictObject({
        keyid: z.string().nullable().optional(),
        sig: z.string().min(1),
      }),
    )
    .min(1),
});
export type DsseEnvelopeJson = z.infer<typeof dsseEnvelopeJsonSchema>;

export interface DsseSignature {
  /** Unauthenticated hint naming the key; '' when absent. */
  keyid: string;
  sig: Buffer;
}

/** An envelope with its base64 fields decoded. */
export interface DsseEnvelope {
  payloadType: string;
  payload: Buffer;
  signatures: DsseSignature[];
}

/** Pre-Authentication Encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'ascii'),
    type,
    Buffer.from(` ${payload.length} `, 'ascii'),
    payload,
  ]);
}

/** Validates the JSON shape and decodes every base64 field strictly. */
export function parseDsseEnvelope(json: unknown): DsseEnvelope {
  const parsed = dsseEnvelopeJsonSchema.safeParse(json);
  if (!parsed.success) {
    throw new InputError('dsse.shape', `DSSE envelope is malformed: ${describeSchemaError(parsed.error)}`);
  }
  const envelope = parsed.data;
  return {
    payloadType: envelope.payloadType,
    payload: decodeBase64Strict(envelope.payload, 'DSSE payload'),
    signatures: envelope.signatures.map((signature, index) => ({
      keyid: signature.keyid ?? '',
      sig: decodeBase64Strict(signature.sig, `DSSE signature ${index}`),
    })),
  };
}

export function dsseEnvelopeToJson(envelope: DsseEnvelope): DsseEnvelopeJson {
  return {
    payload: encodeBase64(envelope.payload),
    payloadType: envelope.payloadType,
    signatures: envelope.signatures.map((s) => ({ sig: encodeBase64(s.sig), keyid: s.keyid })),
  };
}

/**
 * The digest a key signs with. ECDSA uses the SHA-2 size matching the curve (as Sigstore's
 * algorithm registry and OMS require); Ed25519 hashes internally. Other keys are refused so that
 * a verifier never falls back to a default it did not choose.
 */
export function signatureDigestFor(key: KeyObject): 'sha256' | 'sha384' | 'sha512' | null {
  if (key.asymmetricKeyType === 'ed25519') return null;
  if (key.asymmetricKeyType === 'ec') {
    switch (key.asymmetricKeyDetails?.namedCurve) {
      case 'prime256v1':
        return 'sha256';
      case 'secp384r1':
        return 'sha384';
      case 'secp521r1':
        return 'sha512';
    }
    throw new InputError(
      'dsse.unsupported-key',
      `EC curve ${key.asymmetricKeyDetails?.namedCurve ?? '(unknown)'} is not supported; use P-256, P-384 or P-521`,
    );
  }
  throw new InputError(
    'dsse.unsupported-key',
    `${key.asymmetricKeyType ?? 'unknown'} keys are not supported; use ECDSA P-256/P-384/P-521 or Ed25519`,
  );
}

/** Signs PAE(payloadType, payload); ECDSA signatures are DER-encoded, as Sigstore uses. */
export function signDsse(
  payloadType: string,
  payload: Uint8Array,
  signers: ReadonlyArray<{ privateKey: KeyObject; keyid?: string }>,
): DsseEnvelope {
  const message = pae(payloadType, payload);
  return {
    payloadType,
    payload: Buffer.from(payload),
    signatures: signers.map(({ privateKey, keyid }) => ({
      keyid: keyid ?? '',
      sig: cryptoSign(signatureDigestFor(privateKey), message, { key: privateKey, dsaEncoding: 'der' }),
    })),
  };
}

/**
 * True when `signature` is a valid signature by `publicKey` over the envelope's PAE. OpenSSL
 * re-encodes DER ECDSA signatures and rejects any that are not in canonical DER.
 */
export function verifyDsseSignature(envelope: DsseEnvelope, signature: DsseSignature, publicKey: KeyObject): boolean {
  const message = pae(envelope.payloadType, envelope.payload);
  try {
    return cryptoVerify(signatureDigestFor(publicKey), message, { key: publicKey, dsaEncoding: 'der' }, signature.sig);
  } catch (err) {
    if (err instanceof InputError) throw err;
    // OpenSSL throws on structurally broken signatures instead of returning false.
    return false;
  }
}
