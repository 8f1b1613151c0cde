/**
 * What the verification core takes from `node:crypto`, for the browser build (scripts/build-web.mjs
 * maps `node:crypto` here). Only synchronous parts live here: SHA-2 digests (a bundled SHA-2, since
 * WebCrypto's digest is async), X.509 parsing and issuer matching (@peculiar/x509), and public
 * keys compared by value. Signatures are WebCrypto's: TPM signatures through the CryptoBackend
 * (webcrypto-backend.ts), certificate signatures checked before the core runs and looked up here
 * (`preverifyCertificates`); a signature not checked beforehand does not verify (fail closed).
 */
import 'reflect-metadata';
import { sha1 } from '@noble/hashes/legacy';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2';
import { AsnConvert } from '@peculiar/asn1-schema';
import { RSAPublicKey } from '@peculiar/asn1-rsa';
import { SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';

const HASHES = { sha1, sha256, sha384, sha512 } as const;
type HashName = keyof typeof HASHES;

function hashFn(name: string) {
  const fn = HASHES[name.toLowerCase().replace('-', '') as HashName];
  if (!fn) throw new Error(`digest ${name} is not available in the browser`);
  return fn;
}

function encode(bytes: Uint8Array, encoding?: string): Buffer | string {
  const b = Buffer.from(bytes);
  return encoding ? b.toString(encoding as BufferEncoding) : b;
}

export function createHash(name: string) {
  const h = hashFn(name).create();
  const self = {
    update(data: string | Uint8Array, encoding?: BufferEncoding) {
      h.update(typeof data === 'string' ? Buffer.from(data, encoding ?? 'utf8') : data);
      return self;
    },
    digest: (encoding?: string) => encode(h.digest(), encoding),
  };
  return self;
}

export function hash(name: string, data: string | Uint8Array, encoding = 'hex'): Buffer | string {
  return encode(
    hashFn(name)(typeof data === 'string' ? Buffer.from(data) : data),
    encoding === 'buffer' ? undefined : encoding,
  );
}

// ------------------------------------------------------------------ public keys, compared by value

/** The named curves, by the DER of their OID (the SPKI algorithm's parameters). */
const CURVES: Record<string, string> = {
  '06082a8648ce3d030107': 'P-256',
  '06052b81040022': 'P-384',
  '06052b81040023': 'P-521',
};

const b64url = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const stripZeros = (b: Uint8Array) => {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
};

export class KeyObject {
  readonly type = 'public';
  constructor(readonly jwk: JsonWebKey) {}
  equals(other: KeyObject): boolean {
    const a = this.jwk;
    const b = other.jwk;
    return a.kty === b.kty && a.n === b.n && a.e === b.e && a.crv === b.crv && a.x === b.x && a.y === b.y;
  }
  export(): never {
    throw new Error('exporting keys is not available in the browser');
  }
}

/** A JWK with canonical values (no leading zeros in RSA integers), so that equal keys compare equal. */
function canonicalJwk(jwk: JsonWebKey): JsonWebKey {
  if (jwk.kty === 'RSA')
    return {
      kty: 'RSA',
      n: b64url(stripZeros(Buffer.from(jwk.n!, 'base64url'))),
      e: b64url(stripZeros(Buffer.from(jwk.e!, 'base64url'))),
    };
  return { kty: 'EC', crv: jwk.crv!, x: jwk.x!, y: jwk.y! };
}

export function createPublicKey(input: { key: JsonWebKey; format: 'jwk' }): KeyObject {
  if (input.format !== 'jwk') throw new Error('only JWK public keys are available in the browser');
  return new KeyObject(canonicalJwk(input.key));
}

function spkiKey(spki: ArrayBuffer): KeyObject {
  const info = AsnConvert.parse(spki, SubjectPublicKeyInfo);
  const key = new Uint8Array(info.subjectPublicKey);
  if (info.algorithm.algorithm === '1.2.840.113549.1.1.1') {
    const rsa = AsnConvert.parse(key, RSAPublicKey);
    return new KeyObject(
      canonicalJwk({
        kty: 'RSA',
        n: b64url(new Uint8Array(rsa.modulus)),
        e: b64url(new Uint8Array(rsa.publicExponent)),
      }),
    );
  }
  if (info.algorithm.algorithm === '1.2.840.10045.2.1' && info.algorithm.parameters) {
    const crv = CURVES[Buffer.from(info.algorithm.parameters).toString('hex')];
    const size = (key.length - 1) / 2;
    if (crv && key[0] === 4)
      return new KeyObject({ kty: 'EC', crv, x: b64url(key.subarray(1, 1 + size)), y: b64url(key.subarray(1 + size)) });
  }
  throw new Error(`unsupported key algorithm ${info.algorithm.algorithm}`);
}

// ------------------------------------------------------------------ X.509

/** Certificate signatures WebCrypto verified before the core ran: "child DER hex / issuer key". */
const verifiedSignatures = new Set<string>();
const signatureKey = (child: Uint8Array, issuer: KeyObject) =>
  `${Buffer.from(child).toString('hex')}/${JSON.stringify(issuer.jwk)}`;

/** Checks with WebCrypto which of `certificates` signed which (every ordered pair), for `X509Certificate.verify`. */
export async function preverifyCertificates(certificates: readonly Uint8Array[]): Promise<void> {
  const parsed = certificates.flatMap((der) => {
    try {
      return [new X509Certificate(der)];
    } catch {
      return [];
    }
  });
  for (const child of parsed)
    for (const issuer of parsed) {
      let ok = false;
      try {
        ok = await child.peculiar.verify({ publicKey: issuer.peculiar.publicKey, signatureOnly: true });
      } catch {
        ok = false;
      }
      if (ok) verifiedSignatures.add(signatureKey(child.raw, issuer.publicKey));
    }
}

const SAN = '2.5.29.17';
const SKI = '2.5.29.14';
const AKI = '2.5.29.35';

/** Node's X509Certificate, as far as src/pki and src/evidence use it. */
export class X509Certificate {
  readonly peculiar: x509.X509Certificate;
  readonly raw: Buffer;
  constructor(der: Uint8Array) {
    this.peculiar = new x509.X509Certificate(der as Uint8Array<ArrayBuffer>);
    this.raw = Buffer.from(this.peculiar.rawData);
  }
  /** Node prints one attribute per line. */
  get subject(): string {
    return this.peculiar.subjectName.toString().split(', ').join('\n');
  }
  get issuer(): string {
    return this.peculiar.issuerName.toString().split(', ').join('\n');
  }
  get serialNumber(): string {
    return this.peculiar.serialNumber.toUpperCase();
  }
  get subjectAltName(): string | undefined {
    const san = this.peculiar.getExtension(x509.SubjectAlternativeNameExtension);
    if (!san || san.type !== SAN) return undefined;
    return san.names.items.map((n) => `${n.type === 'url' ? 'URI' : n.type.toUpperCase()}:${n.value}`).join(', ');
  }
  get publicKey(): KeyObject {
    return spkiKey(this.peculiar.publicKey.rawData);
  }
  verify(key: KeyObject): boolean {
    return verifiedSignatures.has(signatureKey(this.raw, key));
  }
  /** OpenSSL's X509_check_issued: the issuer name, the key identifiers when both are present, keyCertSign. */
  checkIssued(issuer: X509Certificate): boolean {
    const childIssuer = Buffer.from(this.peculiar.issuerName.toArrayBuffer());
    if (!childIssuer.equals(Buffer.from(issuer.peculiar.subjectName.toArrayBuffer()))) return false;
    const aki = this.peculiar.extensions.find((e) => e.type === AKI) as
      | x509.AuthorityKeyIdentifierExtension
      | undefined;
    const ski = issuer.peculiar.extensions.find((e) => e.type === SKI) as
      | x509.SubjectKeyIdentifierExtension
      | undefined;
    if (aki?.keyId && ski && aki.keyId.toLowerCase() !== ski.keyId.toLowerCase()) return false;
    const usage = issuer.peculiar.getExtension(x509.KeyUsagesExtension);
    return !usage || (usage.usages & x509.KeyUsageFlags.keyCertSign) !== 0;
  }
  toString(): string {
    return this.peculiar.toString('pem');
  }
}

// ------------------------------------------------------------------ the rest: not in the browser

const unavailable =
  (name: string) =>
  (..._args: unknown[]): never => {
    throw new Error(`node:crypto ${name} is not available in the browser`);
  };

export const constants = { RSA_PKCS1_PSS_PADDING: 6, RSA_PKCS1_PADDING: 1, RSA_PSS_SALTLEN_AUTO: -2 };
export const verify = unavailable('verify');
export const sign = unavailable('sign');
export const randomBytes = unavailable('randomBytes');
export const randomInt = unavailable('randomInt');
export const createHmac = unavailable('createHmac');
export const createCipheriv = unavailable('createCipheriv');
export const createECDH = unavailable('createECDH');
export const publicEncrypt = unavailable('publicEncrypt');
export const generateKeyPairSync = unavailable('generateKeyPairSync');
export const createPrivateKey = unavailable('createPrivateKey');
export const timingSafeEqual = unavailable('timingSafeEqual');
export const webcrypto = globalThis.crypto;
