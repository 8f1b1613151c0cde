import { X509Certificate as NodeCertificate, type KeyObject } from 'node:crypto';
import { x509 } from './x509-lib.js';
import { InputError, VerificationError } from '../errors.js';

/**
 * X.509 certification path validation against caller-chosen trust anchors: what OpenSSL's
 * X509_verify_cert checks for a plain chain, minus revocation and policies. Signatures and
 * issuer matching use Node's OpenSSL binding; extensions are decoded with @peculiar/x509, whose
 * own chain builder checks neither dates nor CA flags (so it is not used).
 */

export interface ParsedCertificate {
  der: Buffer;
  /** OpenSSL's view: issuer matching and signature checks. */
  node: NodeCertificate;
  notBefore: Date;
  notAfter: Date;
  /** Absent when the certificate has no basicConstraints extension. */
  basicConstraints?: { ca: boolean; pathLength?: number };
  /** KeyUsageFlags bits; absent when the certificate has no keyUsage extension. */
  keyUsage?: number;
  extendedKeyUsage?: string[];
  /** OIDs of the extensions marked critical. */
  criticalExtensions: string[];
}

const BASIC_CONSTRAINTS = '2.5.29.19';
const KEY_USAGE = '2.5.29.15';
const EXTENDED_KEY_USAGE = '2.5.29.37';
/** Extensions whose meaning this validator enforces or that never restrict a path. */
const UNDERSTOOD_CRITICAL = new Set([
  BASIC_CONSTRAINTS,
  KEY_USAGE,
  EXTENDED_KEY_USAGE,
  '2.5.29.17',
  '2.5.29.14',
  '2.5.29.35',
]);
/** Longest path tried, leaf and anchor included; real PKIs use 2 to 4. */
const MAX_PATH_LENGTH = 8;

/**
 * Parses one DER certificate; the bytes must be exactly one certificate, nothing trailing. The
 * extensions used here are decoded now, so a malformed one is a parse error, not a later crash.
 */
export function parseCertificateDer(der: Uint8Array, what: string): ParsedCertificate {
  const bytes = Buffer.from(der);
  try {
    const node = new NodeCertificate(bytes);
    if (!node.raw.equals(bytes)) throw new Error('bytes follow the certificate');
    const { X509Certificate, BasicConstraintsExtension, KeyUsagesExtension, ExtendedKeyUsageExtension } = x509();
    const parsed = new X509Certificate(bytes);
    const constraints = parsed.getExtension(BasicConstraintsExtension);
    const usage = parsed.getExtension(KeyUsagesExtension);
    const extended = parsed.getExtension(ExtendedKeyUsageExtension);
    return {
      der: bytes,
      node,
      notBefore: parsed.notBefore,
      notAfter: parsed.notAfter,
      ...(constraints && {
        basicConstraints: {
          ca: constraints.ca,
          ...(constraints.pathLength !== undefined && { pathLength: constraints.pathLength }),
        },
      }),
      ...(usage && { keyUsage: usage.usages }),
      ...(extended && { extendedKeyUsage: extended.usages.map(String) }),
      criticalExtensions: parsed.extensions.filter((e) => e.critical).map((e) => e.type),
    };
  } catch (err) {
    throw new InputError('x509.parse', `${what} is not a DER X.509 certificate: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Parses every `CERTIFICATE` block of a PEM text (a bundle file may hold several). */
export function parseCertificatesPem(text: string, what: string): ParsedCertificate[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new InputError('x509.parse', `${what} holds no PEM CERTIFICATE block`);
  return blocks.map((block, i) => {
    const body = block.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
    return parseCertificateDer(Buffer.from(body, 'base64'), `certificate ${i + 1} in ${what}`);
  });
}

/** The certified public key; a key algorithm OpenSSL cannot load makes the certificate unusable here. */
export function certificatePublicKey(cert: ParsedCertificate): KeyObject {
  try {
    return cert.node.publicKey;
  } catch (err) {
    throw new InputError(
      'x509.public-key',
      `the key of ${describeCertificate(cert)} cannot be loaded: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** The subject as one line, or the serial number when the subject is empty (usual for TPM EK certificates). */
export function describeCertificate(cert: ParsedCertificate): string {
  // Node's typings say string, but an empty subject comes back undefined.
  const subject = (cert.node.subject as string | undefined)?.replace(/\n/g, ', ');
  return subject ? `"${subject}"` : `with serial ${cert.node.serialNumber} and an empty subject`;
}

/**
 * Finds a path leaf → untrusted intermediates → anchor in which every certificate is valid at
 * `at`, each issuer is a CA allowed to sign certificates and its signature verifies, path-length
 * constraints hold, and no certificate has a critical extension this code does not understand.
 * A leaf that is itself an anchor is accepted. Returns the path, anchor last.
 * Throws VerificationError `x509.untrusted` naming the first reason a candidate was refused.
 */
export function validateCertificatePath(
  leaf: ParsedCertificate,
  intermediates: readonly ParsedCertificate[],
  anchors: readonly ParsedCertificate[],
  at: Date,
): ParsedCertificate[] {
  const refusals: string[] = [];
  const leafProblem = problemOf(leaf, at, false);
  if (leafProblem) {
    throw new VerificationError(
      'x509.untrusted',
      `the signing certificate ${describeCertificate(leaf)} ${leafProblem}`,
    );
  }
  const search = (path: ParsedCertificate[]): ParsedCertificate[] | undefined => {
    const current = path[path.length - 1]!;
    if (anchors.some((a) => a.der.equals(current.der))) return path;
    for (const anchor of anchors) {
      if (acceptsIssuer(current, anchor, at, refusals)) return [...path, anchor];
    }
    if (path.length + 1 >= MAX_PATH_LENGTH) return undefined;
    for (const candidate of intermediates) {
      if (path.some((c) => c.der.equals(candidate.der))) continue;
      if (!acceptsIssuer(current, candidate, at, refusals)) continue;
      const found = search([...path, candidate]);
      if (found) return found;
    }
    return undefined;
  };
  const path = search([leaf]);
  if (!path) {
    const why = refusals[0] ?? `no given certificate issued ${describeCertificate(leaf)} or its issuers`;
    throw new VerificationError('x509.untrusted', `the certificate chain does not lead to a trusted CA: ${why}`);
  }
  checkPathLengths(path);
  return path;
}

/** Whether `issuer` issued and signed `child` and may act as a CA at `at`; records why not. */
function acceptsIssuer(child: ParsedCertificate, issuer: ParsedCertificate, at: Date, refusals: string[]): boolean {
  let signed: boolean;
  try {
    signed = child.node.verify(certificatePublicKey(issuer));
  } catch {
    signed = false;
  }
  if (!signed) return false;
  // OpenSSL's X509_check_issued: names, key identifiers, and the issuer's key usage allowing keyCertSign.
  if (!child.node.checkIssued(issuer.node)) {
    refusals.push(
      `${describeCertificate(issuer)} signed ${describeCertificate(child)} but cannot be its issuer ` +
        '(names or key identifiers differ, or its key usage does not allow signing certificates)',
    );
    return false;
  }
  const problem = problemOf(issuer, at, true);
  if (problem) {
    refusals.push(`the issuer ${describeCertificate(issuer)} ${problem}`);
    return false;
  }
  return true;
}

function problemOf(cert: ParsedCertificate, at: Date, asIssuer: boolean): string | undefined {
  const { notBefore, notAfter } = cert;
  if (at < notBefore || at > notAfter) {
    return `is not valid at ${at.toISOString()} (valid ${notBefore.toISOString()} to ${notAfter.toISOString()})`;
  }
  const unknown = cert.criticalExtensions.find((oid) => !UNDERSTOOD_CRITICAL.has(oid));
  if (unknown) return `has a critical extension ${unknown} that aicert does not process`;
  if (asIssuer) {
    if (!cert.basicConstraints?.ca) return 'is not a CA certificate (basicConstraints cA is not set)';
    if (cert.keyUsage !== undefined && (cert.keyUsage & x509().KeyUsageFlags.keyCertSign) === 0) {
      return 'has a key usage that does not allow signing certificates';
    }
  }
  return undefined;
}

/** RFC 5280 §4.2.1.9: a CA's pathLenConstraint bounds the non-self-issued intermediates below it. */
function checkPathLengths(path: readonly ParsedCertificate[]): void {
  for (let i = 2; i < path.length; i++) {
    const limit = path[i]!.basicConstraints?.pathLength;
    if (limit === undefined) continue;
    const below = path.slice(1, i).filter((c) => c.node.subject !== c.node.issuer).length;
    if (below > limit) {
      throw new VerificationError(
        'x509.untrusted',
        `the CA ${describeCertificate(path[i]!)} allows ${limit} intermediate CAs below it, the chain has ${below}`,
      );
    }
  }
}

/** The leaf may sign code: key usage digitalSignature, or extended key usage codeSigning. */
export function allowsCodeSigning(cert: ParsedCertificate): boolean {
  if (cert.keyUsage !== undefined && (cert.keyUsage & x509().KeyUsageFlags.digitalSignature) !== 0) return true;
  return cert.extendedKeyUsage?.includes(x509().ExtendedKeyUsage.codeSigning) ?? false;
}
