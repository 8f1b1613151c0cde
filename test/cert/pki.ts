/**
 * Throw-away keys and X.509 chains for tests, made with @peculiar/x509 over WebCrypto. Each
 * certificate is returned both as the DER the project parses and with its private key.
 */
import { KeyObject, webcrypto } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { parseCertificateDer, type ParsedCertificate } from '../../src/pki/x509-path.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export type Curve = 'P-256' | 'P-384' | 'P-521';
const HASH: Record<Curve, string> = { 'P-256': 'SHA-256', 'P-384': 'SHA-384', 'P-521': 'SHA-512' };

export interface Issued {
  certificate: ParsedCertificate;
  privateKey: KeyObject;
  keys: CryptoKeyPair;
}

export async function ecKeys(curve: Curve): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: curve }, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
}

export interface CertificateSpec {
  name: string;
  curve?: Curve;
  /** basicConstraints cA (critical); omitted means no basicConstraints extension. */
  ca?: boolean;
  pathLength?: number;
  /** Key usage flags (critical); omitted means no keyUsage extension. */
  keyUsage?: x509.KeyUsageFlags;
  extendedKeyUsage?: string[];
  notBefore?: Date;
  notAfter?: Date;
  extraExtensions?: x509.Extension[];
}

const DAY = 86_400_000;

/** Issues a certificate for `spec`, signed by `issuer` (or self-signed when issuer is undefined). */
export async function issue(spec: CertificateSpec, issuer?: Issued): Promise<Issued> {
  const curve = spec.curve ?? 'P-256';
  const keys = await ecKeys(curve);
  const extensions: x509.Extension[] = [await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)];
  if (issuer) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey));
  if (spec.ca !== undefined) extensions.push(new x509.BasicConstraintsExtension(spec.ca, spec.pathLength, true));
  if (spec.keyUsage !== undefined) extensions.push(new x509.KeyUsagesExtension(spec.keyUsage, true));
  if (spec.extendedKeyUsage) extensions.push(new x509.ExtendedKeyUsageExtension(spec.extendedKeyUsage, false));
  extensions.push(...(spec.extraExtensions ?? []));
  const signer = issuer?.keys ?? keys;
  const signerCurve = (signer.privateKey.algorithm as EcKeyAlgorithm).namedCurve as Curve;
  const common = {
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(8)))
      .toString('hex')
      .replace(/^[89a-f]/, '1'),
    notBefore: spec.notBefore ?? new Date(Date.now() - DAY),
    notAfter: spec.notAfter ?? new Date(Date.now() + 365 * DAY),
    signingAlgorithm: { name: 'ECDSA', hash: HASH[signerCurve] },
    extensions,
  };
  const cert = issuer
    ? await x509.X509CertificateGenerator.create({
        ...common,
        subject: `CN=${spec.name}`,
        issuer: issuer.certificate.node.subject,
        publicKey: keys.publicKey,
        signingKey: issuer.keys.privateKey,
      })
    : await x509.X509CertificateGenerator.createSelfSigned({ ...common, name: `CN=${spec.name}`, keys });
  return {
    certificate: parseCertificateDer(new Uint8Array(cert.rawData), spec.name),
    privateKey: KeyObject.from(keys.privateKey),
    keys,
  };
}

export const CA_USAGE = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;
export const SIGNING_USAGE = x509.KeyUsageFlags.digitalSignature;
export const CODE_SIGNING = x509.ExtendedKeyUsage.codeSigning as string;

/** root CA → intermediate CA → code-signing leaf on `curve`. */
export async function threeLevelChain(
  curve: Curve = 'P-256',
): Promise<{ root: Issued; intermediate: Issued; leaf: Issued }> {
  const root = await issue({ name: 'test root', curve: 'P-384', ca: true, keyUsage: CA_USAGE });
  const intermediate = await issue({ name: 'test intermediate', ca: true, pathLength: 0, keyUsage: CA_USAGE }, root);
  const leaf = await issue(
    { name: 'test signer', curve, ca: false, keyUsage: SIGNING_USAGE, extendedKeyUsage: [CODE_SIGNING] },
    intermediate,
  );
  return { root, intermediate, leaf };
}

export function pem(certificate: ParsedCertificate): string {
  return `-----BEGIN CERTIFICATE-----\n${certificate.der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`;
}

export { x509 };
