import { x509, type X509 } from '../pki/x509-lib.js';
import { InputError, VerificationError } from '../errors.js';
import {
  certificatePublicKey,
  parseCertificateDer,
  parseCertificatesPem,
  validateCertificatePath,
  type ParsedCertificate,
} from '../pki/x509-path.js';
import { TPM_ALG } from '../tpm/constants.js';
import { publicKeyObject, type PublicArea } from '../tpm/public.js';

/**
 * Endorsement-key certificates: getting the DER out of NV, describing it, and validating it
 * as evidence that an EK belongs to a genuine TPM (TCG EK Credential Profile 2.0).
 */

/** NV indices are at most a few KiB; anything larger is not an EK certificate. */
const MAX_NV_BYTES = 16 * 1024;
/** Some TPMs store the certificate behind a header: 10 01 00, then a u16 length. */
const NV_HEADER = Buffer.from([0x10, 0x01, 0x00]);

/** TCG OIDs: EK certificate EKU, and the TPM attributes in the subjectAltName directoryName. */
export const TCG_EK_CERTIFICATE_EKU = '2.23.133.8.1';
const TCG_TPM_MANUFACTURER = '2.23.133.2.1';
const TCG_TPM_MODEL = '2.23.133.2.2';
const TCG_TPM_VERSION = '2.23.133.2.3';

/**
 * The certificate DER inside NV bytes: raw DER, optionally behind the `10 01 00 len16` header,
 * optionally followed by padding (all 0x00 or all 0xFF). The DER length comes from the outer
 * SEQUENCE header, checked against the bytes present.
 */
export function extractEkCertificateDer(nv: Uint8Array): Buffer {
  if (nv.length > MAX_NV_BYTES)
    throw malformed(`the NV data is ${nv.length} bytes, over the ${MAX_NV_BYTES}-byte limit`);
  let bytes = Buffer.from(nv);
  if (bytes.length >= 5 && bytes.subarray(0, 3).equals(NV_HEADER)) {
    const length = bytes.readUInt16BE(3);
    if (5 + length > bytes.length)
      throw malformed(`the NV header announces ${length} bytes but only ${bytes.length - 5} follow`);
    bytes = bytes.subarray(5, 5 + length);
  }
  const total = derLength(bytes);
  const padding = bytes.subarray(total);
  if (padding.length > 0 && !(padding.every((b) => b === 0x00) || padding.every((b) => b === 0xff))) {
    throw malformed(`${padding.length} bytes that are not padding follow the certificate`);
  }
  return Buffer.from(bytes.subarray(0, total));
}

/** Length of the DER SEQUENCE at the start of `b`, header included. */
function derLength(b: Buffer): number {
  if (b.length < 2 || b[0] !== 0x30) throw malformed('the data does not start with a DER SEQUENCE');
  const first = b[1]!;
  let length: number;
  let header: number;
  if (first < 0x80) {
    length = first;
    header = 2;
  } else {
    const count = first & 0x7f;
    // Up to 3 length bytes (16 MiB) is plenty; 0x80 (indefinite) is not DER.
    if (count === 0 || count > 3) throw malformed('the DER length encoding is not supported');
    if (b.length < 2 + count) throw malformed('the DER header is truncated');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + b[2 + i]!;
    header = 2 + count;
  }
  if (header + length > b.length)
    throw malformed(`the certificate announces ${header + length} bytes but only ${b.length} are present`);
  return header + length;
}

export interface EkCertificateInfo {
  subject: string;
  issuer: string;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** TPM attributes from the subjectAltName directoryName, as written (e.g. "id:00001014"). */
  tpmManufacturer?: string;
  tpmModel?: string;
  tpmVersion?: string;
}

/** Describes an EK certificate (from NV bytes or DER) without judging it: for `aicert tpm info`. */
export function describeEkCertificate(nvOrDer: Uint8Array): EkCertificateInfo {
  return parseEk(nvOrDer).info;
}

/** Names and TPM attributes: what x509-path does not decode. */
function describe(cert: ParsedCertificate): EkCertificateInfo {
  const p = new (x509().X509Certificate)(Uint8Array.from(cert.der));
  const tpm = tpmAttributes(p);
  return {
    subject: p.subject,
    issuer: p.issuer,
    serialNumber: p.serialNumber,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    ...(tpm.manufacturer !== undefined && { tpmManufacturer: tpm.manufacturer }),
    ...(tpm.model !== undefined && { tpmModel: tpm.model }),
    ...(tpm.version !== undefined && { tpmVersion: tpm.version }),
  };
}

function tpmAttributes(cert: X509.X509Certificate): { manufacturer?: string; model?: string; version?: string } {
  const san = cert.getExtension(x509().SubjectAlternativeNameExtension);
  const dn = san?.names.items.find((n) => n.type === 'dn');
  if (!dn) return {};
  const name = new (x509().Name)(dn.value);
  const field = (oid: string) => name.getField(oid)[0];
  return { manufacturer: field(TCG_TPM_MANUFACTURER), model: field(TCG_TPM_MODEL), version: field(TCG_TPM_VERSION) };
}

export interface EkValidationOptions {
  /** The EK public area read from the TPM: the certificate must certify exactly this key. */
  ekPublic: PublicArea;
  /** Trusted roots (PEM text, possibly several blocks per string, or DER). */
  roots: Array<string | Uint8Array>;
  /** Untrusted intermediates that may complete the chain. */
  intermediates?: Array<string | Uint8Array>;
  /** When to judge validity; default now. */
  at?: Date;
}

export interface ValidatedEkCertificate extends EkCertificateInfo {
  /** Subjects from the EK certificate up to the trusted root. */
  chain: string[];
}

/** The checks, in order; each failure is a `VerificationError` with its id as code. */
export const EK_CHECKS = ['ek.expired', 'ek.key-usage', 'ek.eku', 'ek.key-mismatch', 'ek.chain'] as const;

/**
 * Validates an EK certificate: it is within its validity period, its key usage fits an EK of
 * its type, its extended key usage (when present) names the TCG EK certificate purpose, it
 * certifies exactly `ekPublic`, and it chains to one of `roots` (signatures, dates, CA flags,
 * keyCertSign, path lengths and critical extensions checked along the path).
 */
export function validateEkCertificate(nvOrDer: Uint8Array, options: EkValidationOptions): ValidatedEkCertificate {
  const at = options.at ?? new Date();
  const { cert, info } = parseEk(nvOrDer);
  checkValidity(cert, at);
  checkKeyUsage(cert, options.ekPublic);
  checkExtendedKeyUsage(cert);
  checkKey(cert, options.ekPublic);
  const path = checkChain(cert, options, at);
  return { ...info, chain: path.map((c) => describe(c).subject) };
}

function parseEk(nvOrDer: Uint8Array): { cert: ParsedCertificate; info: EkCertificateInfo } {
  const der = extractEkCertificateDer(nvOrDer);
  try {
    const cert = parseCertificateDer(der, 'the EK certificate');
    // Inside the try: @peculiar/x509 throws plain errors on a malformed subjectAltName.
    return { cert, info: describe(cert) };
  } catch (err) {
    throw malformed((err as Error).message);
  }
}

function checkValidity(cert: ParsedCertificate, at: Date): void {
  const { notBefore, notAfter } = cert;
  if (at < notBefore || at > notAfter) {
    throw new VerificationError(
      'ek.expired',
      `the EK certificate is not valid at ${at.toISOString()} (valid ${notBefore.toISOString()} to ${notAfter.toISOString()})`,
    );
  }
}

/** TCG EK profile: an RSA EK decrypts (keyEncipherment), an ECC EK does key agreement. */
function checkKeyUsage(cert: ParsedCertificate, ek: PublicArea): void {
  const [needed, flag] =
    ek.public.type === TPM_ALG.RSA
      ? ['keyEncipherment', x509().KeyUsageFlags.keyEncipherment]
      : ['keyAgreement', x509().KeyUsageFlags.keyAgreement];
  if (cert.keyUsage === undefined || (cert.keyUsage & flag) === 0) {
    throw new VerificationError(
      'ek.key-usage',
      `the EK certificate's key usage does not include ${needed}, which an endorsement key of this type needs`,
    );
  }
}

function checkExtendedKeyUsage(cert: ParsedCertificate): void {
  const eku = cert.extendedKeyUsage;
  if (eku && !eku.includes(TCG_EK_CERTIFICATE_EKU)) {
    throw new VerificationError(
      'ek.eku',
      `the certificate's extended key usage (${eku.join(', ')}) does not include the TCG EK certificate purpose ${TCG_EK_CERTIFICATE_EKU}`,
    );
  }
}

function checkKey(cert: ParsedCertificate, ek: PublicArea): void {
  if (!certificatePublicKey(cert).equals(publicKeyObject(ek.public))) {
    throw new VerificationError(
      'ek.key-mismatch',
      "the EK certificate certifies a different key than the TPM's endorsement key",
    );
  }
}

function checkChain(cert: ParsedCertificate, options: EkValidationOptions, at: Date): ParsedCertificate[] {
  const roots = options.roots.flatMap((r, i) => certificatesFrom(r, `trusted root ${i + 1}`));
  const intermediates = (options.intermediates ?? []).flatMap((c, i) => certificatesFrom(c, `intermediate ${i + 1}`));
  try {
    return validateCertificatePath(cert, intermediates, roots, at);
  } catch (err) {
    if (err instanceof VerificationError)
      throw new VerificationError('ek.chain', `EK certificate: ${err.message}`, { cause: err });
    throw err;
  }
}

function certificatesFrom(source: string | Uint8Array, what: string): ParsedCertificate[] {
  return typeof source === 'string' ? parseCertificatesPem(source, what) : [parseCertificateDer(source, what)];
}

function malformed(detail: string): InputError {
  return new InputError('ek.malformed', `EK certificate: ${detail}`);
}
