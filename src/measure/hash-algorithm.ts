/** The digests the hash pool computes: OMS's sha256 (default) and blake3, and the SHA-2 sizes ECDSA P-384/P-521 signing pairs with. */
export type HashAlgorithm = 'sha256' | 'blake3' | 'sha384' | 'sha512';

export const HASH_ALGORITHMS: readonly HashAlgorithm[] = ['sha256', 'blake3', 'sha384', 'sha512'];

/** Digest length in bytes of each algorithm. */
export const DIGEST_SIZE: Readonly<Record<HashAlgorithm, number>> = { sha256: 32, blake3: 32, sha384: 48, sha512: 64 };
