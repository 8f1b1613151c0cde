import { TPM_ALG, TPM_ECC_CURVE, TPM_RH, TPMA_OBJECT as A } from './constants.js';
import type { Tpm } from './client.js';
import type { LoadedObject } from './commands/create-primary.js';
import type { TpmPublic } from './public.js';
import { TpmResponseError } from './response-code.js';

/** PolicySecret(TPM_RH_ENDORSEMENT): the authPolicy of the TCG EK templates. */
const EK_POLICY = Buffer.from('837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa', 'hex');

const EK_ATTRIBUTES = A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.adminWithPolicy | A.restricted | A.decrypt;
const AES_128_CFB = { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB };

/** TCG EK Credential Profile template L-1: RSA-2048, AES-128-CFB. */
export const EK_TEMPLATE_RSA: TpmPublic = {
  type: TPM_ALG.RSA,
  nameAlg: TPM_ALG.SHA256,
  objectAttributes: EK_ATTRIBUTES,
  authPolicy: EK_POLICY,
  parameters: { symmetric: AES_128_CFB, scheme: { algorithm: TPM_ALG.NULL }, keyBits: 2048, exponent: 0 },
  unique: { modulus: Buffer.alloc(256) },
};

/** TCG EK Credential Profile template L-2: ECC NIST P-256, AES-128-CFB. */
export const EK_TEMPLATE_ECC: TpmPublic = {
  type: TPM_ALG.ECC,
  nameAlg: TPM_ALG.SHA256,
  objectAttributes: EK_ATTRIBUTES,
  authPolicy: EK_POLICY,
  parameters: {
    symmetric: AES_128_CFB,
    scheme: { algorithm: TPM_ALG.NULL },
    curve: TPM_ECC_CURVE.NIST_P256,
    kdf: { algorithm: TPM_ALG.NULL },
  },
  unique: { x: Buffer.alloc(32), y: Buffer.alloc(32) },
};

/**
 * The aicert attestation key: a restricted ECDSA P-256/SHA-256 signing key created as a
 * primary under the endorsement hierarchy. Primaries are derived from the hierarchy seed and
 * the template, so the same TPM recreates the same AK every time: nothing secret is stored.
 */
export const AK_TEMPLATE: TpmPublic = {
  type: TPM_ALG.ECC,
  nameAlg: TPM_ALG.SHA256,
  objectAttributes:
    A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.userWithAuth | A.noDA | A.restricted | A.sign,
  authPolicy: Buffer.alloc(0),
  parameters: {
    symmetric: { algorithm: TPM_ALG.NULL },
    scheme: { algorithm: TPM_ALG.ECDSA, hashAlg: TPM_ALG.SHA256 },
    curve: TPM_ECC_CURVE.NIST_P256,
    kdf: { algorithm: TPM_ALG.NULL },
  },
  unique: { x: Buffer.alloc(0), y: Buffer.alloc(0) },
};

export type EkKind = 'rsa' | 'ecc';

/** NV indices of EK certificates (TCG EK Credential Profile): low-range RSA and ECC P-256. */
export const EK_CERTIFICATE_INDEX: Record<EkKind, number> = { rsa: 0x01c00002, ecc: 0x01c0000a };

export function createAk(tpm: Tpm): Promise<LoadedObject> {
  return tpm.createPrimary(TPM_RH.ENDORSEMENT, AK_TEMPLATE, 'aicert AK');
}

export function createEk(tpm: Tpm, kind: EkKind): Promise<LoadedObject> {
  return tpm.createPrimary(
    TPM_RH.ENDORSEMENT,
    kind === 'rsa' ? EK_TEMPLATE_RSA : EK_TEMPLATE_ECC,
    `EK ${kind.toUpperCase()}`,
  );
}

/** The raw EK certificate bytes from NV, or undefined when the TPM has none of that kind. */
export async function readEkCertificate(tpm: Tpm, kind: EkKind): Promise<Buffer | undefined> {
  try {
    return await tpm.nvRead(EK_CERTIFICATE_INDEX[kind]);
  } catch (err) {
    // TPM_RC_HANDLE on the index: no certificate provisioned at that index.
    if (err instanceof TpmResponseError && (err.responseCode & 0xbf) === 0x8b) return undefined;
    throw err;
  }
}
