import { createHash, type Hash } from 'node:crypto';
import { createRequire } from 'node:module';

/** The digests the hash pool computes: OMS's sha256 (default) and blake3, and the SHA-2 sizes ECDSA P-384/P-521 signing pairs with. */
export type HashAlgorithm = 'sha256' | 'blake3' | 'sha384' | 'sha512';

export const HASH_ALGORITHMS: readonly HashAlgorithm[] = ['sha256', 'blake3', 'sha384', 'sha512'];

/** Digest length in bytes of each algorithm. */
export const DIGEST_SIZE: Readonly<Record<HashAlgorithm, number>> = { sha256: 32, blake3: 32, sha384: 48, sha512: 64 };

/** An incremental digest of one of the HashAlgorithms. */
export interface Hasher {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

/** The @napi-rs/blake-hash addon is loaded only by threads that are asked for BLAKE3. */
type Blake3Module = typeof import('@napi-rs/blake-hash');
let blake3Module: Blake3Module | undefined;

export function createHasher(algorithm: HashAlgorithm): Hasher {
  if (algorithm === 'blake3') {
    blake3Module ??= createRequire(import.meta.url)('@napi-rs/blake-hash') as Blake3Module;
    const hasher = new blake3Module.Blake3Hasher();
    return { update: (data) => void hasher.update(data), digest: () => hasher.digestBuffer() };
  }
  const hash: Hash = createHash(algorithm);
  return { update: (data) => void hash.update(data), digest: () => hash.digest() };
}
