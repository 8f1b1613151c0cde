import { randomBytes, webcrypto } from 'node:crypto';
import { x509, type X509 } from '../pki/x509-lib.js';
import { AK_NAME_URI_PREFIX } from '../evidence/ak-trust.js';
import { objectName, publicKeyObject, type PublicArea } from '../tpm/public.js';

/**
 * The X.509 certificates an aicert attestation CA makes: its own self-signed root, and one
 * certificate per enrolled attestation key. ECDSA P-256 with SHA-256 throughout.
 */

export const CA_SUBJECT = 'CN=aicert attestation CA';
export const SIGNING_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
/** TCG tcg-kp-AIKCertificate: the certified key is a TPM attestation key. */
export const TCG_AK_CERTIFICATE_EKU = '2.23.133.8.3';

const DAY_MS = 24 * 60 * 60 * 1000;
export const CA_VALIDITY_DAYS = 10 * 365;
export const AK_VALIDITY_DAYS = 365;
/** Backdating absorbs clock differences between the CA and the verifiers. */
const BACKDATE_MS = 5 * 60 * 1000;

export function generateCaKeys(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(SIGNING_ALGORITHM, true, ['sign', 'verify']) as Promise<webcrypto.CryptoKeyPair>;
}

/** Self-signed CA certificate: cA true with no intermediates below it, keyCertSign. */
export async function createCaCertificate(keys: webcrypto.CryptoKeyPair, now: Date): Promise<X509.X509Certificate> {
  const lib = x509();
  return lib.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: CA_SUBJECT,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + CA_VALIDITY_DAYS * DAY_MS),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new lib.BasicConstraintsExtension(true, 0, true),
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.keyCertSign | lib.KeyUsageFlags.cRLSign, true),
      await lib.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
}

export interface AkCertificateRequest {
  akPublic: PublicArea;
  caCertificate: X509.X509Certificate;
  caKey: webcrypto.CryptoKey;
  now: Date;
  validityDays?: number;
}

/**
 * The certificate for an attestation key: its public key as SPKI, subject "aicert AK <first 16
 * bytes of the Name digest>", the full Name as a subjectAltName URI (so a verifier can tell
 * which TPM object was certified, attributes included), digitalSignature only, the TCG AK
 * certificate purpose, and no validity beyond the CA's own.
 */
export async function createAkCertificate(request: AkCertificateRequest): Promise<X509.X509Certificate> {
  const { akPublic, caCertificate, caKey, now } = request;
  const lib = x509();
  const nameHex = objectName(akPublic).toString('hex');
  const spki = new lib.PublicKey(
    Uint8Array.from(publicKeyObject(akPublic.public).export({ type: 'spki', format: 'der' })),
  );
  const notAfter = Math.min(
    now.getTime() + (request.validityDays ?? AK_VALIDITY_DAYS) * DAY_MS,
    caCertificate.notAfter.getTime(),
  );
  return lib.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=aicert AK ${nameHex.slice(4, 36)}`,
    issuer: caCertificate.subject,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(notAfter),
    publicKey: spki,
    signingKey: caKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new lib.BasicConstraintsExtension(false, undefined, true),
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.digitalSignature, true),
      new lib.ExtendedKeyUsageExtension([TCG_AK_CERTIFICATE_EKU]),
      new lib.SubjectAlternativeNameExtension([{ type: 'url', value: `${AK_NAME_URI_PREFIX}${nameHex}` }]),
      await lib.AuthorityKeyIdentifierExtension.create(caCertificate.publicKey),
      await lib.SubjectKeyIdentifierExtension.create(spki),
    ],
  });
}

/** 16 random bytes, first byte 0x01–0x7f: a positive INTEGER with no leading zero (RFC 5280 §4.1.2.2). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! % 0x7f) + 1;
  return bytes.toString('hex');
}
