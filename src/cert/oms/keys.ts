import { createHash, type KeyObject } from 'node:crypto';
import { InputError } from '../../errors.js';

/** OMS signing keys (algorithm registry): ECDSA on P-256, P-384 or P-521, hashed with SHA-256/384/512. */
const CURVES: Readonly<Record<string, { name: string; keyDetails: string }>> = {
  prime256v1: { name: 'P-256', keyDetails: 'PKIX_ECDSA_P256_SHA_256' },
  secp384r1: { name: 'P-384', keyDetails: 'PKIX_ECDSA_P384_SHA_384' },
  secp521r1: { name: 'P-521', keyDetails: 'PKIX_ECDSA_P521_SHA_512' },
};

/** Refuses keys OMS does not allow; returns the curve's name and Sigstore `keyDetails` value. */
export function requireOmsKey(key: KeyObject, what: string): { name: string; keyDetails: string } {
  const curve = key.asymmetricKeyType === 'ec' ? CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''] : undefined;
  if (!curve) {
    const found =
      key.asymmetricKeyType === 'ec'
        ? `EC ${key.asymmetricKeyDetails?.namedCurve ?? '?'}`
        : (key.asymmetricKeyType ?? 'unknown');
    throw new InputError(
      'oms.unsupported-key',
      `${what} is a ${found} key; OMS signatures use ECDSA P-256, P-384 or P-521`,
    );
  }
  return curve;
}

/**
 * The `publicKey.hint` of a key bundle: hex SHA-256 of the key's PEM SubjectPublicKeyInfo text,
 * exactly as the reference tool computes it (model_signing _signing/sign_ec_key.py). Node and
 * Python's `cryptography` both write PEM with 64-column lines and a final newline.
 */
export function publicKeyHint(key: KeyObject): string {
  const pem = key.export({ type: 'spki', format: 'pem' });
  return createHash('sha256').update(pem).digest('hex');
}
