import { VerificationError } from '../errors.js';
import { TPMA_OBJECT, TPM_ALG } from './constants.js';
import type { TpmPublic } from './public.js';

/** What makes a key an attestation key: the TPM signs only its own data with it and never lets it out. */
const AK_REQUIRED: Array<[string, number]> = [
  ['restricted', TPMA_OBJECT.restricted],
  ['sign', TPMA_OBJECT.sign],
  ['fixedTPM', TPMA_OBJECT.fixedTPM],
  ['fixedParent', TPMA_OBJECT.fixedParent],
];

/**
 * Throws `VerificationError('ak.attributes')` unless `ak` is a restricted signing key bound to
 * its TPM. A restricted key refuses to sign external data that begins with TPM_GENERATED_VALUE,
 * so it cannot sign a forged quote; fixedTPM and fixedParent keep its private part in the TPM.
 * Whether the key really is in a genuine TPM is a separate question (AK certificate or
 * credential activation).
 */
export function checkAkAttributes(ak: TpmPublic): void {
  const missing = AK_REQUIRED.filter(([, bit]) => (ak.objectAttributes & bit) === 0).map(([name]) => name);
  if (missing.length > 0) {
    throw new VerificationError(
      'ak.attributes',
      `the key is not an attestation key: ${missing.join(', ')} not set (such a key could sign forged quotes or leave the TPM)`,
    );
  }
  if (ak.objectAttributes & TPMA_OBJECT.decrypt)
    throw new VerificationError('ak.attributes', 'the key is not an attestation key: it can also decrypt');
  if (ak.type === TPM_ALG.RSA && ak.parameters.keyBits < 2048) {
    throw new VerificationError(
      'ak.attributes',
      `the attestation key is RSA-${ak.parameters.keyBits}; at least 2048 bits are required`,
    );
  }
}
