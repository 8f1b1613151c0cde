import { constants, createCipheriv, createECDH, createHmac, publicEncrypt, randomBytes } from 'node:crypto';
import { InputError } from '../errors.js';
import { checkAkAttributes } from './ak-attributes.js';
import { HASH_ALGS, TPMA_OBJECT, TPM_ALG } from './constants.js';
import { kdfa, kdfe } from './kdf.js';
import { marshal } from './marshal.js';
import { hashAlgName } from './pcr-selection.js';
import { ECC_CURVES, objectName, publicKeyObject, type PublicArea, type TpmPublic } from './public.js';

/** The AK check `makeCredential` runs, under the name src/ca/enrollment.ts imports. */
export { checkAkAttributes as checkAkForActivation };

/**
 * MakeCredential in software (TPM 2.0 Library Part 1, 24): wraps a secret so that only the TPM
 * holding `ekPublic`'s private key, and only for a loaded object whose Name is `akName`,
 * releases it through ActivateCredential. A verifier or attestation CA uses it to learn that an
 * AK lives in the same TPM as a certified EK.
 */
export interface Credential {
  /** TPM2B_ID_OBJECT contents, without its u16 size: TPM2B(integrity HMAC) ‖ encIdentity. */
  credentialBlob: Buffer;
  /** TPM2B_ENCRYPTED_SECRET contents, without its u16 size: the RSA ciphertext, or TPMS_ECC_POINT. */
  encryptedSecret: Buffer;
}

/**
 * Checks that `akPublic` is an attestation key (`checkAkAttributes`), then makes a credential
 * for its Name. Activating a credential for any other kind of key would prove nothing.
 */
export function makeCredential(ekPublic: PublicArea, akPublic: PublicArea, secret: Uint8Array): Credential {
  checkAkAttributes(akPublic.public);
  return makeCredentialForName(ekPublic, objectName(akPublic), secret);
}

/**
 * MakeCredential for an arbitrary Name, with no check of the object behind it. Prefer
 * `makeCredential`, which checks the AK first.
 */
export function makeCredentialForName(ekPublic: PublicArea, akName: Uint8Array, secret: Uint8Array): Credential {
  const ek = ekPublic.public;
  const nameAlg = ekHash(ek);
  if (secret.length === 0 || secret.length > nameAlg.size) {
    throw new InputError(
      'credential.secret-size',
      `the credential secret must be 1-${nameAlg.size} bytes (the EK's ${nameAlg.name} digest size), not ${secret.length}`,
    );
  }
  const { seed, encryptedSecret } = encapsulateSeed(ek, 'IDENTITY');
  return { credentialBlob: wrapCredential(ek, seed, akName, secret), encryptedSecret };
}

/**
 * Secret sharing with the EK (Part 1, 11.4.10 and Annex B.10.3 / C.6.1): a random seed of the
 * EK nameAlg's digest size, encrypted to the EK. RSA: OAEP with the nameAlg hash and the label
 * (plus its zero byte). ECC: one-pass ECDH with an ephemeral key, seed = KDFe(Z.x, label,
 * ephemeral.x, EK.x), and the ephemeral public point is what gets sent.
 * `ephemeralPrivate` fixes the ECC ephemeral key, for test vectors only.
 */
export function encapsulateSeed(
  ek: TpmPublic,
  label: string,
  ephemeralPrivate?: Uint8Array,
): { seed: Buffer; encryptedSecret: Buffer } {
  checkEkForCredentials(ek);
  const nameAlg = ekHash(ek);
  if (ek.type === TPM_ALG.RSA) {
    const seed = randomBytes(nameAlg.size);
    const encryptedSecret = publicEncrypt(
      {
        key: publicKeyObject(ek),
        padding: constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: nameAlg.node,
        oaepLabel: Buffer.from(`${label}\0`, 'latin1'),
      },
      seed,
    );
    return { seed, encryptedSecret };
  }
  const curve = ECC_CURVES[ek.parameters.curve]!;
  const ecdh = createECDH(curve.node);
  if (ephemeralPrivate) ecdh.setPrivateKey(Buffer.from(ephemeralPrivate));
  else ecdh.generateKeys();
  const ekX = leftPad(ek.unique.x, curve.size);
  const ekPoint = Buffer.concat([Buffer.of(0x04), ekX, leftPad(ek.unique.y, curve.size)]);
  let z: Buffer;
  try {
    z = ecdh.computeSecret(ekPoint);
  } catch (err) {
    throw new InputError(
      'credential.ek-invalid',
      `the EK's ECC point is not on ${curve.jwk}: ${(err as Error).message}`,
    );
  }
  const ephemeral = ecdh.getPublicKey(); // 04 ‖ x ‖ y, each coordinate at the field size
  const ephX = ephemeral.subarray(1, 1 + curve.size);
  const ephY = ephemeral.subarray(1 + curve.size);
  const seed = kdfe(ek.nameAlg, z, label, ephX, ekX, nameAlg.size * 8);
  return { seed, encryptedSecret: marshal((w) => w.tpm2b(ephX).tpm2b(ephY)) };
}

/**
 * The credential blob for `seed` (Part 1, 24.4 and 24.5): the secret as a TPM2B_DIGEST,
 * AES-CFB-encrypted (IV 0) under KDFa(seed, "STORAGE", Name), then an outer HMAC under
 * KDFa(seed, "INTEGRITY") over encIdentity ‖ Name.
 */
export function wrapCredential(ek: TpmPublic, seed: Uint8Array, akName: Uint8Array, secret: Uint8Array): Buffer {
  checkEkForCredentials(ek);
  const nameAlg = ekHash(ek);
  const keyBits = ek.parameters.symmetric.keyBits!;
  const symKey = kdfa(ek.nameAlg, seed, 'STORAGE', akName, Buffer.alloc(0), keyBits);
  const cipher = createCipheriv(`aes-${keyBits}-cfb`, symKey, Buffer.alloc(16));
  const encIdentity = Buffer.concat([cipher.update(marshal((w) => w.tpm2b(secret))), cipher.final()]);
  const hmacKey = kdfa(ek.nameAlg, seed, 'INTEGRITY', Buffer.alloc(0), Buffer.alloc(0), nameAlg.size * 8);
  const integrity = createHmac(nameAlg.node, hmacKey).update(encIdentity).update(akName).digest();
  return marshal((w) => w.tpm2b(integrity).bytes(encIdentity));
}

/** An EK is a restricted decryption key whose symmetric parameters protect the credential. */
function checkEkForCredentials(ek: TpmPublic): void {
  const attrs = ek.objectAttributes;
  if (!(attrs & TPMA_OBJECT.restricted) || !(attrs & TPMA_OBJECT.decrypt) || attrs & TPMA_OBJECT.sign) {
    throw new InputError('credential.ek-invalid', 'the endorsement key must be a restricted decryption key');
  }
  const sym = ek.parameters.symmetric;
  if (sym.algorithm !== TPM_ALG.AES || sym.mode !== TPM_ALG.CFB || ![128, 192, 256].includes(sym.keyBits ?? 0)) {
    throw new InputError(
      'credential.ek-invalid',
      "the endorsement key's symmetric definition is not AES-CFB (128, 192 or 256 bits)",
    );
  }
  if (ek.type === TPM_ALG.ECC && !ECC_CURVES[ek.parameters.curve]) {
    throw new InputError(
      'credential.ek-invalid',
      `the endorsement key's ECC curve 0x${ek.parameters.curve.toString(16)} is not supported`,
    );
  }
}

function ekHash(ek: TpmPublic): { name: string; size: number; node: string } {
  const alg = HASH_ALGS[ek.nameAlg];
  if (!alg)
    throw new InputError(
      'credential.ek-invalid',
      `the endorsement key's nameAlg ${hashAlgName(ek.nameAlg)} is not supported`,
    );
  return alg;
}

function leftPad(b: Buffer, size: number): Buffer {
  if (b.length > size)
    throw new InputError('credential.ek-invalid', "the EK's ECC coordinate is longer than its curve's field");
  return Buffer.concat([Buffer.alloc(size - b.length), b]);
}
