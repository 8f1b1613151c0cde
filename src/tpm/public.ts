import { createHash, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { HASH_ALGS, TPM_ALG, TPM_ECC_CURVE } from './constants.js';
import { TpmFormatError, TpmReader, type TpmWriter, marshal } from './marshal.js';

/** TPMT_PUBLIC for the two key types aicert uses (RSA and ECC). */
export interface RsaParameters {
  symmetric: SymmetricDef;
  scheme: Scheme;
  keyBits: number;
  /** 0 means the default exponent 65537. */
  exponent: number;
}
export interface EccParameters {
  symmetric: SymmetricDef;
  scheme: Scheme;
  curve: number;
  kdf: Scheme;
}
export interface SymmetricDef {
  algorithm: number;
  keyBits?: number;
  mode?: number;
}
export interface Scheme {
  algorithm: number;
  hashAlg?: number;
  /** ECDAA only. */
  count?: number;
}

export type TpmPublic =
  | {
      type: typeof TPM_ALG.RSA;
      nameAlg: number;
      objectAttributes: number;
      authPolicy: Buffer;
      parameters: RsaParameters;
      unique: { modulus: Buffer };
    }
  | {
      type: typeof TPM_ALG.ECC;
      nameAlg: number;
      objectAttributes: number;
      authPolicy: Buffer;
      parameters: EccParameters;
      unique: { x: Buffer; y: Buffer };
    };

/** Curves aicert knows: TPM id → field size and JOSE name. */
export const ECC_CURVES: Record<number, { size: number; jwk: string; node: string }> = {
  [TPM_ECC_CURVE.NIST_P256]: { size: 32, jwk: 'P-256', node: 'prime256v1' },
  [TPM_ECC_CURVE.NIST_P384]: { size: 48, jwk: 'P-384', node: 'secp384r1' },
  [TPM_ECC_CURVE.NIST_P521]: { size: 66, jwk: 'P-521', node: 'secp521r1' },
};

/** Signing/encryption schemes whose details are a single hash algorithm. */
const HASH_SCHEMES = new Set<number>([
  TPM_ALG.RSASSA,
  TPM_ALG.RSAPSS,
  TPM_ALG.OAEP,
  TPM_ALG.ECDSA,
  TPM_ALG.ECDH,
  0x001b /* SM2 */,
  0x001c /* ECSCHNORR */,
  0x001d /* ECMQV */,
  0x0007 /* MGF1 */,
  0x0020 /* KDF1_SP800_56A */,
  0x0021 /* KDF2 */,
  0x0022 /* KDF1_SP800_108 */,
]);
const ECDAA = 0x001a;
const RSAES = 0x0015;

function writeSymmetric(w: TpmWriter, s: SymmetricDef): void {
  w.u16(s.algorithm);
  if (s.algorithm !== TPM_ALG.NULL) w.u16(s.keyBits ?? 0).u16(s.mode ?? 0);
}

function readSymmetric(r: TpmReader): SymmetricDef {
  const algorithm = r.u16('symmetric.algorithm');
  if (algorithm === TPM_ALG.NULL) return { algorithm };
  return { algorithm, keyBits: r.u16('symmetric.keyBits'), mode: r.u16('symmetric.mode') };
}

function writeScheme(w: TpmWriter, s: Scheme): void {
  w.u16(s.algorithm);
  if (s.algorithm === TPM_ALG.NULL || s.algorithm === RSAES) return;
  w.u16(s.hashAlg ?? TPM_ALG.NULL);
  if (s.algorithm === ECDAA) w.u16(s.count ?? 0);
}

function readScheme(r: TpmReader, field: string): Scheme {
  const algorithm = r.u16(`${field}.algorithm`);
  if (algorithm === TPM_ALG.NULL || algorithm === RSAES) return { algorithm };
  if (HASH_SCHEMES.has(algorithm)) return { algorithm, hashAlg: r.u16(`${field}.hashAlg`) };
  if (algorithm === ECDAA) return { algorithm, hashAlg: r.u16(`${field}.hashAlg`), count: r.u16(`${field}.count`) };
  throw new TpmFormatError(`TPMT_PUBLIC: unknown ${field} 0x${algorithm.toString(16)}`);
}

export function writePublic(w: TpmWriter, p: TpmPublic): void {
  w.u16(p.type).u16(p.nameAlg).u32(p.objectAttributes).tpm2b(p.authPolicy);
  writeSymmetric(w, p.parameters.symmetric);
  writeScheme(w, p.parameters.scheme);
  if (p.type === TPM_ALG.RSA) {
    w.u16(p.parameters.keyBits).u32(p.parameters.exponent);
    w.tpm2b(p.unique.modulus);
  } else {
    w.u16(p.parameters.curve);
    writeScheme(w, p.parameters.kdf);
    w.tpm2b(p.unique.x).tpm2b(p.unique.y);
  }
}

/** TPMT_PUBLIC bytes (the input to the object's Name). */
export function marshalPublic(p: TpmPublic): Buffer {
  return marshal((w) => writePublic(w, p));
}

export function readPublic(r: TpmReader): TpmPublic {
  const type = r.u16('type');
  const nameAlg = r.u16('nameAlg');
  const objectAttributes = r.u32('objectAttributes');
  const authPolicy = r.tpm2b('authPolicy', 64);
  const symmetric = readSymmetric(r);
  const scheme = readScheme(r, 'scheme');
  if (type === TPM_ALG.RSA) {
    const keyBits = r.u16('keyBits');
    const exponent = r.u32('exponent');
    const modulus = r.tpm2b('unique.rsa', 512);
    return {
      type,
      nameAlg,
      objectAttributes,
      authPolicy,
      parameters: { symmetric, scheme, keyBits, exponent },
      unique: { modulus },
    };
  }
  if (type === TPM_ALG.ECC) {
    const curve = r.u16('curveID');
    const kdf = readScheme(r, 'kdf');
    const x = r.tpm2b('unique.x', 66);
    const y = r.tpm2b('unique.y', 66);
    return {
      type,
      nameAlg,
      objectAttributes,
      authPolicy,
      parameters: { symmetric, scheme, curve, kdf },
      unique: { x, y },
    };
  }
  throw new TpmFormatError(`TPMT_PUBLIC: unsupported key type 0x${type.toString(16)} (aicert handles RSA and ECC)`);
}

/**
 * A parsed public area together with its exact bytes: the Name must be computed over the
 * bytes as received, never over a re-marshalled copy.
 */
export interface PublicArea {
  public: TpmPublic;
  bytes: Buffer;
}

/** Parses TPMT_PUBLIC bytes (no size prefix), consuming them exactly. */
export function parsePublic(bytes: Uint8Array): PublicArea {
  const r = new TpmReader(bytes, 'TPMT_PUBLIC');
  const pub = readPublic(r);
  r.end();
  return { public: pub, bytes: Buffer.from(bytes) };
}

/** Parses TPM2B_PUBLIC (u16 size, then TPMT_PUBLIC). */
export function parsePublic2b(bytes: Uint8Array): PublicArea {
  const r = new TpmReader(bytes, 'TPM2B_PUBLIC');
  const inner = r.tpm2b('TPM2B_PUBLIC');
  r.end();
  return parsePublic(inner);
}

/** TPM2B_PUBLIC bytes for a TPMT_PUBLIC byte string. */
export function public2b(publicBytes: Uint8Array): Buffer {
  return marshal((w) => w.tpm2b(publicBytes));
}

/** Name = nameAlg ‖ H_nameAlg(TPMT_PUBLIC). */
export function objectName(area: PublicArea): Buffer {
  const alg = HASH_ALGS[area.public.nameAlg];
  if (!alg) throw new TpmFormatError(`TPMT_PUBLIC: unsupported nameAlg 0x${area.public.nameAlg.toString(16)}`);
  const head = Buffer.alloc(2);
  head.writeUInt16BE(area.public.nameAlg);
  return Buffer.concat([head, createHash(alg.node).update(area.bytes).digest()]);
}

/** The public key as a Node KeyObject (for signature checks and PEM export). */
export function publicKeyObject(p: TpmPublic): KeyObject {
  return importJwk(publicKeyJwk(p));
}

/** The public key as a JWK, unchecked (importing it checks it: an ECC point must be on its curve). */
export function publicKeyJwk(p: TpmPublic): JsonWebKey {
  if (p.type === TPM_ALG.RSA) {
    const e = p.parameters.exponent === 0 ? 65537 : p.parameters.exponent;
    const eBytes = Buffer.alloc(4);
    eBytes.writeUInt32BE(e);
    let i = 0;
    while (i < 3 && eBytes[i] === 0) i++;
    return {
      kty: 'RSA',
      n: p.unique.modulus.toString('base64url'),
      e: eBytes.subarray(i).toString('base64url'),
    };
  }
  const curve = ECC_CURVES[p.parameters.curve];
  if (!curve) throw new TpmFormatError(`TPMT_PUBLIC: unsupported ECC curve 0x${p.parameters.curve.toString(16)}`);
  const pad = (b: Buffer) => {
    if (b.length > curve.size) throw new TpmFormatError('TPMT_PUBLIC: ECC coordinate longer than the curve field');
    return Buffer.concat([Buffer.alloc(curve.size - b.length), b]).toString('base64url');
  };
  return { kty: 'EC', crv: curve.jwk, x: pad(p.unique.x), y: pad(p.unique.y) };
}

/** Node rejects invalid keys (an ECC point off its curve) with a generic error: make it a format error. */
function importJwk(jwk: JsonWebKey): KeyObject {
  try {
    return createPublicKey({ key: jwk, format: 'jwk' });
  } catch (err) {
    throw invalidPublicKey(jwk, err);
  }
}

/** The error for a public key that cannot be imported, whichever crypto library refused it. */
export function invalidPublicKey(jwk: JsonWebKey, cause: unknown): TpmFormatError {
  return new TpmFormatError(`TPMT_PUBLIC: the ${jwk.kty} public key is invalid (${(cause as Error).message})`);
}

export function publicKeyPem(p: TpmPublic): string {
  return publicKeyObject(p).export({ type: 'spki', format: 'pem' }).toString();
}
