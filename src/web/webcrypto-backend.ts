import type { CryptoBackend, SignatureRequest } from '../util/crypto-backend.js';
import { KeyImportError } from '../util/crypto-backend.js';

const HASH_BYTES = { 'SHA-256': 32, 'SHA-384': 48, 'SHA-512': 64 } as const;

/** The verifier's digests and signature checks with the browser's WebCrypto (crypto.subtle). */
export const webCryptoBackend: CryptoBackend = {
  async digest(algorithm, data) {
    return new Uint8Array(await crypto.subtle.digest(algorithm, data as BufferSource));
  },
  async verifySignature(request: SignatureRequest): Promise<boolean> {
    const { key, algorithm, hash, data, signature } = request;
    const params = algorithm === 'ECDSA' ? { name: 'ECDSA', namedCurve: key.crv! } : { name: algorithm, hash };
    let publicKey: CryptoKey;
    try {
      publicKey = await crypto.subtle.importKey('jwk', key, params, false, ['verify']);
    } catch (err) {
      throw new KeyImportError((err as Error).message, { cause: err });
    }
    if (algorithm === 'ECDSA')
      return crypto.subtle.verify({ name: 'ECDSA', hash }, publicKey, signature as BufferSource, data as BufferSource);
    if (algorithm === 'RSASSA-PKCS1-v1_5')
      return crypto.subtle.verify(algorithm, publicKey, signature as BufferSource, data as BufferSource);
    // OpenSSL's RSA_PSS_SALTLEN_AUTO accepts any salt length; WebCrypto wants one: the digest size
    // and the maximum (what TPMs use) first, then the others.
    const modulusBytes = Buffer.from(key.n!, 'base64url').length;
    const max = modulusBytes - HASH_BYTES[hash] - 2;
    const lengths = [HASH_BYTES[hash], max, ...Array.from({ length: max + 1 }, (_, i) => i)];
    for (const saltLength of new Set(lengths.filter((n) => n >= 0 && n <= max)))
      if (
        await crypto.subtle.verify(
          { name: 'RSA-PSS', saltLength },
          publicKey,
          signature as BufferSource,
          data as BufferSource,
        )
      )
        return true;
    return false;
  },
};
