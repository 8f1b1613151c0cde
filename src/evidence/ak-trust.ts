import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { VerificationError } from '../errors.js';
import { readCertificateFiles } from '../pki/key-files.js';
import { readBoundedFile } from '../util/bounded-file.js';
import {
  certificatePublicKey,
  describeCertificate,
  parseCertificateDer,
  validateCertificatePath,
  type ParsedCertificate,
} from '../pki/x509-path.js';
import { objectName, publicKeyObject, type PublicArea } from '../tpm/public.js';
import { parseYamlDocument } from '../util/yaml-document.js';

/**
 * Trust in an attestation key (docs/security.md): why a verifier may believe that the AK which signed
 * the quotes lives in a genuine TPM.
 *   ca        — the AK certificate chains to a root the verifier trusts, and certifies this AK;
 *   pinned    — the verifier pinned this AK's Name;
 *   untrusted — anything else. Callers reject it unless told otherwise, and label it loudly.
 */

/** Weakest first: a level satisfies a minimum when its rank is at least the minimum's. */
export const AK_TRUST_LEVELS = ['untrusted', 'pinned', 'ca'] as const;
export type AkTrustLevel = (typeof AK_TRUST_LEVELS)[number];

export interface TrustAnchors {
  /** Trusted AK CA certificates (an aicert attestation CA, a cloud vTPM root). */
  roots: ParsedCertificate[];
  /** AK Names (nameAlg ‖ digest) trusted as they are. */
  pinnedAks: Buffer[];
}

export const NO_TRUST_ANCHORS: TrustAnchors = { roots: [], pinnedAks: [] };

export interface AkTrust {
  level: AkTrustLevel;
  /** One sentence: what made the AK trusted, or why it is not. */
  reason: string;
  /** The AK certificate's subject and issuer, when a chain was accepted. */
  subject?: string;
  issuer?: string;
}

/** The SAN URI prefix under which an aicert attestation CA writes the AK Name it certified. */
export const AK_NAME_URI_PREFIX = 'urn:aicert:ak-name:';

/** AK certificate chains are short; certificate.ts allows 8 entries. */
const MAX_CHAIN_LENGTH = 8;
const MAX_CERTIFICATE_BYTES = 16 * 1024;

/**
 * Decides the trust level of `akPublic` given the certificate chain shipped with it (DER, leaf
 * first; may be empty) and the verifier's anchors, judging validity at `at`. Never throws for
 * an untrusted AK: the reason says what failed.
 */
export function evaluateAkTrust(
  akPublic: PublicArea,
  chainDer: readonly Uint8Array[],
  anchors: TrustAnchors,
  at: Date,
): AkTrust {
  let name: Buffer;
  try {
    name = objectName(akPublic);
  } catch (err) {
    return { level: 'untrusted', reason: `the AK has no computable Name: ${(err as Error).message}` };
  }
  const chain = chainVerdict(akPublic, name, chainDer, anchors, at);
  if (chain.accepted) {
    return {
      level: 'ca',
      reason: `the AK certificate ${chain.subject} chains to the trusted root ${chain.root}`,
      subject: chain.subject,
      issuer: chain.issuer,
    };
  }
  if (anchors.pinnedAks.some((pin) => pin.equals(name))) {
    const note = chainDer.length > 0 ? `; its certificate chain was not accepted (${chain.reason})` : '';
    return { level: 'pinned', reason: `the AK Name ${name.toString('hex')} is pinned${note}` };
  }
  return { level: 'untrusted', reason: chain.reason };
}

type ChainVerdict =
  | { accepted: true; subject: string; issuer: string; root: string }
  | { accepted: false; reason: string };

function chainVerdict(
  akPublic: PublicArea,
  name: Buffer,
  chainDer: readonly Uint8Array[],
  anchors: TrustAnchors,
  at: Date,
): ChainVerdict {
  const refuse = (reason: string): ChainVerdict => ({ accepted: false, reason });
  if (chainDer.length === 0)
    return refuse(`the evidence carries no AK certificate and the AK Name ${name.toString('hex')} is not pinned`);
  if (chainDer.length > MAX_CHAIN_LENGTH)
    return refuse(
      `the AK certificate chain has ${chainDer.length} certificates, over the limit of ${MAX_CHAIN_LENGTH}`,
    );
  const certificates: ParsedCertificate[] = [];
  for (const [i, der] of chainDer.entries()) {
    if (der.length > MAX_CERTIFICATE_BYTES)
      return refuse(`AK chain certificate ${i + 1} is ${der.length} bytes, over the limit of ${MAX_CERTIFICATE_BYTES}`);
    try {
      certificates.push(parseCertificateDer(der, `AK chain certificate ${i + 1}`));
    } catch (err) {
      return refuse((err as Error).message);
    }
  }
  const [leaf, ...intermediates] = certificates as [ParsedCertificate, ...ParsedCertificate[]];
  let sameKey: boolean;
  try {
    sameKey = certificatePublicKey(leaf).equals(publicKeyObject(akPublic.public));
  } catch (err) {
    return refuse((err as Error).message);
  }
  if (!sameKey) {
    return refuse(`the AK certificate ${describeCertificate(leaf)} certifies a different key than the attestation key`);
  }
  const certifiedName = certifiedAkName(leaf);
  if (certifiedName !== undefined && certifiedName !== name.toString('hex')) {
    return refuse(
      `the AK certificate ${describeCertificate(leaf)} was issued for the AK Name ${certifiedName}, not ${name.toString('hex')}`,
    );
  }
  const { notBefore, notAfter } = leaf;
  if (at < notBefore || at > notAfter) {
    return refuse(
      `the AK certificate ${describeCertificate(leaf)} is not valid at ${at.toISOString()} (valid ${notBefore.toISOString()} to ${notAfter.toISOString()})`,
    );
  }
  if (anchors.roots.length === 0)
    return refuse('no trusted AK roots were given (pass --trust with a CA certificate or trust file)');
  try {
    const path = validateCertificatePath(leaf, intermediates, anchors.roots, at);
    // Certificates the path does not use were checked by nobody; carrying them unchecked is not fail-closed.
    const unused = certificates.filter(
      (c, i) => !path.some((p) => p.der.equals(c.der)) || certificates.findIndex((d) => d.der.equals(c.der)) !== i,
    );
    if (unused.length > 0) {
      return refuse(
        `the AK certificate chain carries ${unused.length} certificate(s) that are repeated or not on its path to the trusted root (${unused.map(describeCertificate).join('; ')}); a chain holds the AK certificate and its issuers, once each`,
      );
    }
    return {
      accepted: true,
      subject: oneLine(leaf.node.subject) || `(empty subject, serial ${leaf.node.serialNumber})`,
      issuer: oneLine(leaf.node.issuer),
      root: describeCertificate(path[path.length - 1]!),
    };
  } catch (err) {
    if (err instanceof VerificationError)
      return refuse(`AK certificate chain does not reach a trusted root: ${err.message}`);
    throw err;
  }
}

/**
 * Node prints distinguished names one attribute per line, and an empty name (usual in cloud
 * vendors' AK certificates, whose subject is all in the subjectAltName) as undefined.
 */
function oneLine(name: string | undefined): string {
  return (name ?? '').replace(/\n/g, ', ');
}

/** The AK Name an aicert CA wrote into the certificate's subjectAltName, if any. */
function certifiedAkName(cert: ParsedCertificate): string | undefined {
  const uris = (cert.node.subjectAltName ?? '').split(', ').filter((n) => n.startsWith(`URI:${AK_NAME_URI_PREFIX}`));
  return uris[0]?.slice(`URI:${AK_NAME_URI_PREFIX}`.length).toLowerCase();
}

/** A Name as hex: nameAlg SHA-256, SHA-384 or SHA-512, then its digest. */
export const akNameHexSchema = z
  .string()
  .regex(
    /^(000b[0-9a-f]{64}|000c[0-9a-f]{96}|000d[0-9a-f]{128})$/i,
    'an AK Name in hex: 000b followed by 64 hex digits (SHA-256)',
  )
  .transform((hex) => Buffer.from(hex, 'hex'));

const trustFileSchema = z
  .strictObject({
    version: z.literal(1),
    akRoots: z.array(z.string().min(1).max(4096)).max(64).default([]),
    pinnedAks: z.array(akNameHexSchema).max(1024).default([]),
  })
  .refine((t) => t.akRoots.length + t.pinnedAks.length > 0, 'a trust file lists at least one of akRoots or pinnedAks');

export const MAX_TRUST_FILE_BYTES = 1024 * 1024;

/**
 * Reads `--trust PATH`: either a PEM file of trusted AK CA certificates (such as DIR/ca.pem of
 * `aicert ca init DIR`), or a YAML trust file
 *   version: 1
 *   akRoots: [ca.pem, cloud-root.pem]   # relative to the trust file
 *   pinnedAks: [000b…]                  # AK Names
 * Unusable files raise `InputError` (exit 2).
 */
export async function loadTrustAnchors(path: string): Promise<TrustAnchors> {
  const text = (await readBoundedFile(path, MAX_TRUST_FILE_BYTES, 'trust file')).toString('utf8');
  if (isPemTrustFile(text)) {
    return { roots: await readCertificateFiles([path]), pinnedAks: [] };
  }
  const file = parseTrustFile(text, `the trust file ${path}`);
  const base = dirname(resolve(path));
  return {
    roots: await readCertificateFiles(file.akRoots.map((root) => resolve(base, root))),
    pinnedAks: file.pinnedAks,
  };
}

/** Whether a trust file's text is PEM certificates (else it is a YAML trust file). */
export function isPemTrustFile(text: string): boolean {
  return text.includes('-----BEGIN CERTIFICATE-----');
}

/** A YAML trust file's contents: the root files it names (relative to it) and the pinned AK Names. */
export function parseTrustFile(text: string, source: string): { akRoots: string[]; pinnedAks: Buffer[] } {
  return parseYamlDocument(text, trustFileSchema, source, 'trust.invalid');
}

/** Anchors plus more pinned AK Names (e.g. the policy's `pinnedAks`). */
export function withPinnedAks(anchors: TrustAnchors, names: readonly Buffer[]): TrustAnchors {
  return { roots: anchors.roots, pinnedAks: [...anchors.pinnedAks, ...names] };
}

/**
 * The AK trust decision every verifier makes (`aicert verify`, `attest`, `receipt verify`,
 * `attestedFetch`): the AK must be vouched for by a trusted CA or pinned (in the trust file or
 * the policy's `pinnedAks`); otherwise `ak.trust` fails, unless the caller accepts an untrusted
 * AK (testing only), which is then labelled in the reason. `whose` names the key in the message.
 */
export function decideAkTrust(
  akPublic: PublicArea,
  chainDer: readonly Uint8Array[],
  o: { trust: TrustAnchors; pinnedAks?: readonly Buffer[] | undefined; allowUntrustedAk: boolean; now?: Date },
  whose = 'the attestation key',
): AkTrust {
  const anchors = o.pinnedAks?.length ? withPinnedAks(o.trust, o.pinnedAks) : o.trust;
  const trust = evaluateAkTrust(akPublic, chainDer, anchors, o.now ?? new Date());
  if (meetsTrustLevel(trust.level, 'pinned')) return trust;
  if (o.allowUntrustedAk)
    return {
      ...trust,
      reason: `UNTRUSTED attestation key accepted because --allow-untrusted-ak was given: ${trust.reason}. It proves nothing about the hardware.`,
    };
  throw new VerificationError(
    'ak.trust',
    `${whose} is not trusted: ${trust.reason}. Pass --trust with the AK's CA certificate, pin it in a policy, or (for testing only) --allow-untrusted-ak`,
  );
}

/** Whether `level` meets `minimum`. */
export function meetsTrustLevel(level: AkTrustLevel, minimum: AkTrustLevel): boolean {
  return AK_TRUST_LEVELS.indexOf(level) >= AK_TRUST_LEVELS.indexOf(minimum);
}
