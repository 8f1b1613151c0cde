import { constants, createHash, createPublicKey, verify, type JsonWebKey } from 'node:crypto';

/**
 * The verifier's cryptography, behind one small interface so that one verification core runs in
 * Node (OpenSSL, this file's default) and in a browser (WebCrypto, src/web/webcrypto-backend.ts).
 * Both operations are async because WebCrypto's are. The verifier's own digests (quote PCR
 * digests, event log digests and replay, the statement binding) go through `digest`; digests
 * computed inside synchronous code shared with the writers stay on `node:crypto`'s createHash,
 * which the browser build maps to a bundled SHA-2 (docs/report.md lists which, and why).
 */
export interface CryptoBackend {
  /** The digest of `data` (one-shot: WebCrypto has no incremental digest). */
  digest(algorithm: DigestAlgorithm, data: Uint8Array): Promise<Uint8Array>;
  /**
   * Whether `signature` over `data` verifies with the public key `key`. Throws `KeyImportError`
   * when the key itself is unusable (an ECC point off its curve), any other error when the
   * signature cannot be checked with this key (callers report both as "not verified").
   */
  verifySignature(request: SignatureRequest): Promise<boolean>;
}

export type DigestAlgorithm = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';

/** WebCrypto's name of a hash by its node:crypto / TPM name (`sha256` → `SHA-256`). */
export function digestAlgorithm(nodeName: string): DigestAlgorithm {
  const name = { sha1: 'SHA-1', sha256: 'SHA-256', sha384: 'SHA-384', sha512: 'SHA-512' }[nodeName];
  if (!name) throw new RangeError(`unknown hash algorithm ${nodeName}`);
  return name as DigestAlgorithm;
}

export interface SignatureRequest {
  key: JsonWebKey;
  /** RSA-PSS accepts any salt length: TPMs differ (digest size or maximum). */
  algorithm: 'RSASSA-PKCS1-v1_5' | 'RSA-PSS' | 'ECDSA';
  hash: 'SHA-256' | 'SHA-384' | 'SHA-512';
  data: Uint8Array;
  /** For ECDSA, r ‖ s, each at the curve's field size (IEEE P1363). */
  signature: Uint8Array;
}

/** The key could not be imported: the caller names what was wrong with it. */
export class KeyImportError extends Error {
  override name = 'KeyImportError';
}

const NODE_HASHES = { 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' } as const;

/** OpenSSL through node:crypto: what the CLI has always used. */
export const nodeCryptoBackend: CryptoBackend = {
  async digest(algorithm, data) {
    return createHash(NODE_HASHES[algorithm]).update(data).digest();
  },
  async verifySignature({ key, algorithm, hash, data, signature }) {
    let publicKey: ReturnType<typeof createPublicKey>;
    try {
      publicKey = createPublicKey({ key, format: 'jwk' });
    } catch (err) {
      throw new KeyImportError((err as Error).message, { cause: err });
    }
    if (algorithm === 'ECDSA')
      return verify(NODE_HASHES[hash], data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
    const padding = algorithm === 'RSA-PSS' ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING;
    return verify(
      NODE_HASHES[hash],
      data,
      { key: publicKey, padding, saltLength: constants.RSA_PSS_SALTLEN_AUTO },
      signature,
    );
  },
};

let current: CryptoBackend = nodeCryptoBackend;

export function cryptoBackend(): CryptoBackend {
  return current;
}

/** Called once by the browser verifier before it verifies anything. */
export function setCryptoBackend(backend: CryptoBackend): void {
  current = backend;
}

/** `data`'s digest by the current backend, as a Buffer (what the verification core compares). */
export async function digest(algorithm: DigestAlgorithm, data: Uint8Array): Promise<Buffer> {
  const bytes = await current.digest(algorithm, data);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
