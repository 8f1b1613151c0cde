import { cryptoBackend, KeyImportError, type SignatureRequest } from '../util/crypto-backend.js';
import { TPM_ALG } from './constants.js';
import { TpmFormatError, TpmReader, marshal } from './marshal.js';
import { hashAlgName } from './pcr-selection.js';
import { ECC_CURVES, invalidPublicKey, publicKeyJwk, type PublicArea, type TpmPublic } from './public.js';

/** TPMT_SIGNATURE for the schemes a TPM uses to sign attestations (Part 2, 11.3.4). */
export type TpmSignature =
  | { scheme: typeof TPM_ALG.RSASSA | typeof TPM_ALG.RSAPSS; hashAlg: number; sig: Buffer }
  | { scheme: typeof TPM_ALG.ECDSA; hashAlg: number; r: Buffer; s: Buffer };

/** TPM2B_PUBLIC_KEY_RSA holds at most a 4096-bit value. */
const MAX_RSA_BYTES = 512;
/** TPM2B_ECC_PARAMETER holds at most a P-521 coordinate. */
const MAX_ECC_BYTES = 66;

const SCHEME_NAMES: Record<number, string> = {
  [TPM_ALG.RSASSA]: 'RSASSA',
  [TPM_ALG.RSAPSS]: 'RSAPSS',
  [TPM_ALG.ECDSA]: 'ECDSA',
  [TPM_ALG.HMAC]: 'HMAC',
  [TPM_ALG.NULL]: 'NULL',
  0x001a: 'ECDAA',
  0x001b: 'SM2',
  0x001c: 'ECSCHNORR',
};

export function schemeName(alg: number): string {
  return SCHEME_NAMES[alg] ?? `0x${alg.toString(16).padStart(4, '0')}`;
}

/** Parses TPMT_SIGNATURE bytes, consuming them exactly. */
export function parseSignature(bytes: Uint8Array): TpmSignature {
  const r = new TpmReader(bytes, 'TPMT_SIGNATURE');
  const scheme = r.u16('sigAlg');
  let out: TpmSignature;
  if (scheme === TPM_ALG.RSASSA || scheme === TPM_ALG.RSAPSS) {
    out = { scheme, hashAlg: r.u16('hash'), sig: r.tpm2b('sig', MAX_RSA_BYTES) };
  } else if (scheme === TPM_ALG.ECDSA) {
    out = {
      scheme,
      hashAlg: r.u16('hash'),
      r: r.tpm2b('signatureR', MAX_ECC_BYTES),
      s: r.tpm2b('signatureS', MAX_ECC_BYTES),
    };
  } else {
    throw new TpmFormatError(
      `TPMT_SIGNATURE: scheme ${schemeName(scheme)} is not supported (aicert verifies RSASSA, RSAPSS and ECDSA)`,
    );
  }
  r.end();
  return out;
}

/** TPMT_SIGNATURE bytes (used to write quote files and test fixtures). */
export function marshalSignature(sig: TpmSignature): Buffer {
  return marshal((w) => {
    w.u16(sig.scheme).u16(sig.hashAlg);
    if (sig.scheme === TPM_ALG.ECDSA) w.tpm2b(sig.r).tpm2b(sig.s);
    else w.tpm2b(sig.sig);
  });
}

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

/** Hashes aicert accepts in signatures: SHA-1 is not among them. */
const SIGNATURE_HASHES: Record<number, SignatureRequest['hash']> = {
  [TPM_ALG.SHA256]: 'SHA-256',
  [TPM_ALG.SHA384]: 'SHA-384',
  [TPM_ALG.SHA512]: 'SHA-512',
};

/**
 * Verifies `sig` over `message` with the key in `key`. The hash is the signature's own hash
 * algorithm; when the key fixes a scheme (restricted keys always do), the signature must use
 * exactly that scheme and hash. Returns the reason on failure instead of throwing, so callers
 * can report it under their own check id.
 */
export async function verifyTpmSignature(
  key: PublicArea | TpmPublic,
  message: Uint8Array,
  sig: TpmSignature,
): Promise<SignatureCheck> {
  const pub = 'bytes' in key ? key.public : key;
  const keyScheme = pub.parameters.scheme;
  if (keyScheme.algorithm !== TPM_ALG.NULL) {
    if (keyScheme.algorithm !== sig.scheme || keyScheme.hashAlg !== sig.hashAlg) {
      return fail(
        `the signature uses ${schemeName(sig.scheme)}-${hashAlgName(sig.hashAlg)} but the key only signs with ` +
          `${schemeName(keyScheme.algorithm)}-${hashAlgName(keyScheme.hashAlg ?? TPM_ALG.NULL)}`,
      );
    }
  }
  const hash = SIGNATURE_HASHES[sig.hashAlg];
  if (!hash) return fail(`signature hash ${hashAlgName(sig.hashAlg)} is not accepted (use SHA-256 or stronger)`);

  if (pub.type === TPM_ALG.RSA) {
    if (sig.scheme === TPM_ALG.ECDSA) return fail('an ECDSA signature cannot come from an RSA key');
    const algorithm = sig.scheme === TPM_ALG.RSAPSS ? 'RSA-PSS' : 'RSASSA-PKCS1-v1_5';
    return checked({ key: publicKeyJwk(pub), algorithm, hash, data: message, signature: sig.sig });
  }

  if (sig.scheme !== TPM_ALG.ECDSA) return fail(`an ${schemeName(sig.scheme)} signature cannot come from an ECC key`);
  const curve = ECC_CURVES[pub.parameters.curve];
  if (!curve) return fail(`ECC curve 0x${pub.parameters.curve.toString(16)} is not supported`);
  const r = leftPad(sig.r, curve.size);
  const s = leftPad(sig.s, curve.size);
  if (!r || !s) return fail(`ECDSA r or s is longer than the ${curve.jwk} field`);
  return checked({ key: publicKeyJwk(pub), algorithm: 'ECDSA', hash, data: message, signature: Buffer.concat([r, s]) });
}

/**
 * An unusable key is a format error of the public area; crypto libraries reject some other inputs
 * (a key too small for the PSS hash, say) by throwing: also "not verified".
 */
async function checked(request: SignatureRequest): Promise<SignatureCheck> {
  try {
    return (await cryptoBackend().verifySignature(request))
      ? { ok: true }
      : fail('the signature does not verify with this key');
  } catch (err) {
    if (err instanceof KeyImportError) throw invalidPublicKey(request.key, err);
    return fail(`the signature cannot be checked with this key: ${(err as Error).message}`);
  }
}

function fail(reason: string): SignatureCheck {
  return { ok: false, reason };
}

/** TPMs strip leading zeros from r and s; IEEE P1363 wants them at the field size. */
function leftPad(b: Buffer, size: number): Buffer | undefined {
  if (b.length > size) return undefined;
  return Buffer.concat([Buffer.alloc(size - b.length), b]);
}
