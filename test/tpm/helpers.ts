/**
 * Test helpers: software keys dressed as TPM objects, and TPMS_ATTEST structures written from
 * the spec layout (independently of the parser under test), so verifier tests can produce
 * validly signed quotes with any content.
 */
import { constants, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { AicertError } from '../../src/errors.js';
import { TPM_ALG, TPM_ECC_CURVE, TPM_GENERATED_VALUE, TPM_ST, TPMA_OBJECT as A } from '../../src/tpm/constants.js';
import { EK_TEMPLATE_RSA } from '../../src/tpm/keys.js';
import { marshal } from '../../src/tpm/marshal.js';
import { writePcrSelections, type PcrSelection } from '../../src/tpm/pcr-selection.js';
import { marshalPublic, parsePublic, type PublicArea, type TpmPublic } from '../../src/tpm/public.js';
import { marshalSignature } from '../../src/tpm/signature.js';

type KeyKind = 'rsa' | 'ecc' | 'ecc-p384';
const keyCache = new Map<KeyKind, { publicKey: KeyObject; privateKey: KeyObject }>();

/** One software key pair per kind per test process (RSA key generation is slow). */
export function softwareKey(kind: KeyKind) {
  let pair = keyCache.get(kind);
  if (!pair) {
    pair =
      kind === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ec', { namedCurve: kind === 'ecc' ? 'prime256v1' : 'secp384r1' });
    keyCache.set(kind, pair);
  }
  return pair;
}

function withKey(template: TpmPublic, publicKey: KeyObject): PublicArea {
  const jwk = publicKey.export({ format: 'jwk' });
  const filled: TpmPublic =
    template.type === TPM_ALG.RSA
      ? { ...template, unique: { modulus: Buffer.from(jwk.n!, 'base64url') } }
      : { ...template, unique: { x: Buffer.from(jwk.x!, 'base64url'), y: Buffer.from(jwk.y!, 'base64url') } };
  return parsePublic(marshalPublic(filled));
}

const AK_ATTRIBUTES =
  A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.userWithAuth | A.noDA | A.restricted | A.sign;

/** An AK public area (aicert's ECC template, or RSA-2048 RSASSA) holding a software key. */
export function akPublicFor(
  kind: 'rsa' | 'ecc',
  pair = softwareKey(kind),
  scheme?: { algorithm: number; hashAlg: number },
) {
  const template: TpmPublic =
    kind === 'rsa'
      ? {
          type: TPM_ALG.RSA,
          nameAlg: TPM_ALG.SHA256,
          objectAttributes: AK_ATTRIBUTES,
          authPolicy: Buffer.alloc(0),
          parameters: {
            symmetric: { algorithm: TPM_ALG.NULL },
            scheme: scheme ?? { algorithm: TPM_ALG.RSASSA, hashAlg: TPM_ALG.SHA256 },
            keyBits: 2048,
            exponent: 0,
          },
          unique: { modulus: Buffer.alloc(0) },
        }
      : {
          type: TPM_ALG.ECC,
          nameAlg: TPM_ALG.SHA256,
          objectAttributes: AK_ATTRIBUTES,
          authPolicy: Buffer.alloc(0),
          parameters: {
            symmetric: { algorithm: TPM_ALG.NULL },
            scheme: scheme ?? { algorithm: TPM_ALG.ECDSA, hashAlg: TPM_ALG.SHA256 },
            curve: TPM_ECC_CURVE.NIST_P256,
            kdf: { algorithm: TPM_ALG.NULL },
          },
          unique: { x: Buffer.alloc(0), y: Buffer.alloc(0) },
        };
  return { area: withKey(template, pair.publicKey), privateKey: pair.privateKey };
}

/** swtpm's high-range ECC EK (TCG H-3): P-384, SHA-384 nameAlg, AES-256-CFB. */
const EK_TEMPLATE_ECC_P384: TpmPublic = {
  type: TPM_ALG.ECC,
  nameAlg: TPM_ALG.SHA384,
  objectAttributes: 0x000300f2,
  authPolicy: Buffer.from(
    'b26e7d28d11a50bc53d882bcf5fd3a1a074148bb35d3b4e4cb1c0ad9bde419cacb47ba09699646150f9fc000f3f80e12',
    'hex',
  ),
  parameters: {
    symmetric: { algorithm: TPM_ALG.AES, keyBits: 256, mode: TPM_ALG.CFB },
    scheme: { algorithm: TPM_ALG.NULL },
    curve: TPM_ECC_CURVE.NIST_P384,
    kdf: { algorithm: TPM_ALG.NULL },
  },
  unique: { x: Buffer.alloc(0), y: Buffer.alloc(0) },
};

/** An EK public area (TCG L-1 RSA, or swtpm's P-384) holding a software key. */
export function ekPublicFor(kind: 'rsa' | 'ecc-p384', publicKey = softwareKey(kind).publicKey) {
  return { area: withKey(kind === 'rsa' ? EK_TEMPLATE_RSA : EK_TEMPLATE_ECC_P384, publicKey) };
}

export interface AttestFields {
  magic?: number;
  type?: number;
  qualifiedSigner?: Buffer;
  extraData: Buffer;
  clock?: bigint;
  resetCount?: number;
  restartCount?: number;
  safe?: number;
  firmwareVersion?: bigint;
  selection: PcrSelection[];
  pcrDigest: Buffer;
}

/** TPMS_ATTEST for a quote, written field by field from Part 2, 10.12.12. */
export function buildQuoteAttest(f: AttestFields): Buffer {
  return marshal((w) => {
    w.u32(f.magic ?? TPM_GENERATED_VALUE).u16(f.type ?? TPM_ST.ATTEST_QUOTE);
    w.tpm2b(f.qualifiedSigner ?? Buffer.concat([Buffer.of(0, 0x0b), Buffer.alloc(32, 0xaa)]));
    w.tpm2b(f.extraData);
    w.u64(f.clock ?? 123456n)
      .u32(f.resetCount ?? 3)
      .u32(f.restartCount ?? 1)
      .u8(f.safe ?? 1);
    w.u64(f.firmwareVersion ?? 0x2019102300163636n);
    writePcrSelections(w, f.selection);
    w.tpm2b(f.pcrDigest);
  });
}

/** TPMT_SIGNATURE over `message` by a software key, in the AK's scheme. */
export function signAsTpm(
  ak: { area: PublicArea; privateKey: KeyObject },
  message: Buffer,
  hashAlg: number = TPM_ALG.SHA256,
): Buffer {
  const hash = {
    [TPM_ALG.SHA256]: 'sha256',
    [TPM_ALG.SHA384]: 'sha384',
    [TPM_ALG.SHA512]: 'sha512',
    [TPM_ALG.SHA1]: 'sha1',
  }[hashAlg]!;
  const pub = ak.area.public;
  if (pub.type === TPM_ALG.ECC) {
    const raw = sign(hash, message, { key: ak.privateKey, dsaEncoding: 'ieee-p1363' });
    // TPMs send r and s without leading zero bytes; strip them to exercise the padding.
    const strip = (b: Buffer) =>
      b.subarray(
        Math.max(
          0,
          b.findIndex((x) => x !== 0),
        ),
      );
    return marshalSignature({
      scheme: TPM_ALG.ECDSA,
      hashAlg,
      r: strip(raw.subarray(0, 32)),
      s: strip(raw.subarray(32)),
    });
  }
  const pss = pub.parameters.scheme.algorithm === TPM_ALG.RSAPSS;
  const sig = sign(hash, message, {
    key: ak.privateKey,
    padding: pss ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING,
    saltLength: 32,
  });
  return marshalSignature({ scheme: pss ? TPM_ALG.RSAPSS : TPM_ALG.RSASSA, hashAlg, sig });
}

/**
 * Bytes derived from valid samples the way corruption and attackers derive them: truncated,
 * with bytes flipped or overwritten, with bytes inserted or removed, with junk appended; plus
 * plain random bytes. For property tests of parsers.
 */
export function mutatedBytes(seeds: Uint8Array[]): fc.Arbitrary<Buffer> {
  const seed = fc.constantFrom(...seeds.map((s) => Buffer.from(s)));
  const truncated = seed.chain((s) => fc.nat(s.length).map((n) => s.subarray(0, n)));
  const overwritten = seed.chain((s) =>
    fc
      .array(fc.tuple(fc.nat(Math.max(0, s.length - 1)), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      })
      .map((edits) => {
        const out = Buffer.from(s);
        for (const [at, v] of edits) if (at < out.length) out[at] = v;
        return out;
      }),
  );
  const spliced = seed.chain((s) =>
    fc
      .tuple(fc.nat(s.length), fc.nat(8), fc.uint8Array({ maxLength: 8 }))
      .map(([at, drop, insert]) =>
        Buffer.concat([s.subarray(0, at), Buffer.from(insert), s.subarray(Math.min(s.length, at + drop))]),
      ),
  );
  const random = fc.uint8Array({ maxLength: 700 }).map((b) => Buffer.from(b));
  return fc.oneof(truncated, overwritten, spliced, random);
}

/** Runs `parse` and accepts success or an aicert error; anything else (a crash) fails the property. */
export function parsesOrRefuses(parse: () => unknown): true {
  try {
    parse();
  } catch (err) {
    if (!(err instanceof AicertError)) throw new Error(`crashed instead of refusing: ${String(err)}`, { cause: err });
  }
  return true;
}

/** `parsesOrRefuses` for a parser that returns a promise (one that verifies a signature). */
export async function parsesOrRefusesAsync(parse: () => Promise<unknown>): Promise<true> {
  try {
    await parse();
  } catch (err) {
    if (!(err instanceof AicertError)) throw new Error(`crashed instead of refusing: ${String(err)}`, { cause: err });
  }
  return true;
}
