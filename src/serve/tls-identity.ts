import { createHash, generateKeyPairSync, KeyObject, randomBytes, webcrypto } from 'node:crypto';
import { x509 } from '../pki/x509-lib.js';

/**
 * The keys of a serving session, generated in memory when it opens and never written anywhere:
 * the TLS key (ECDSA P-256, in a self-signed certificate, since what vouches for it is the
 * attestation, not a CA) and the receipt key (Ed25519). Their public keys go into the session's
 * `serve-keys` event.
 */
export interface SessionKeys {
  tls: { key: KeyObject; certificatePem: string; spki: Buffer; spkiSha256: Buffer };
  receipt: { privateKey: KeyObject; publicKey: KeyObject; spki: Buffer };
}

const SIGNING_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;

export async function generateSessionKeys(sessionId: string, now = new Date()): Promise<SessionKeys> {
  const keys = (await webcrypto.subtle.generateKey(SIGNING_ALGORITHM, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const lib = x509();
  const certificate = await lib.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(16)
      .toString('hex')
      .replace(/^[89a-f]/, '1'),
    name: `CN=aicert serving session ${sessionId}`,
    notBefore: new Date(now.getTime() - 5 * 60 * 1000),
    notAfter: new Date(now.getTime() + 365 * DAY_MS),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [new lib.KeyUsagesExtension(lib.KeyUsageFlags.digitalSignature, true)],
  });
  const tlsKey = KeyObject.from(keys.privateKey);
  const spki = spkiOf(KeyObject.from(keys.publicKey));
  const receipt = generateKeyPairSync('ed25519');
  return {
    tls: { key: tlsKey, certificatePem: certificate.toString('pem'), spki, spkiSha256: sha256(spki) },
    receipt: { ...receipt, spki: spkiOf(receipt.publicKey) },
  };
}

export function spkiOf(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

export function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}
