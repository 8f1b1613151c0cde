/**
 * The OMS interoperability vectors in test/fixtures/oms (copied from sigstore/model-transparency
 * and ossf/model-signing-spec; provenance in each folder's README.md),
 * the trust each is checked with, and temp-directory helpers for tests that modify models.
 */
import { createPublicKey } from 'node:crypto';
import { chmod, cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCertificatesPem } from '../../src/pki/x509-path.js';
import type { OmsTrust } from '../../src/cert/oms/verify.js';

/** dist/test/cert/ → repository root → test/fixtures/oms */
export const OMS_VECTORS = fileURLToPath(new URL('../../../test/fixtures/oms/', import.meta.url));
export const REFERENCE = join(OMS_VECTORS, 'model-transparency');
export const SPEC = join(OMS_VECTORS, 'model-signing-spec');

export const referenceKey = createPublicKey(readFileSync(join(REFERENCE, 'keys/signing-key-pub.pem')));
export const referenceCa = parseCertificatesPem(
  readFileSync(join(REFERENCE, 'keys/ca-cert.pem'), 'utf8'),
  'ca-cert.pem',
);
export const keyTrust: OmsTrust = { publicKey: referenceKey };
export const caTrust: OmsTrust = { certificateAuthorities: referenceCa };

export interface ReferenceVector {
  dir: string;
  /** Model path inside `dir`: '.' for directories, the file for the single-file model. */
  model: string;
  trust: OmsTrust;
  /** Model-relative ignore paths given to the reference verifier (README). */
  ignorePaths: string[];
}

/** How test/fixtures/oms/model-transparency/README.md says the reference tool verifies each one. */
export const REFERENCE_VECTORS: ReferenceVector[] = [
  { dir: 'v1.0.0-elliptic-key', model: 'signme-1', trust: keyTrust, ignorePaths: [] },
  { dir: 'v1.0.1-elliptic-key', model: '.', trust: keyTrust, ignorePaths: ['ignore-me'] },
  { dir: 'v1.1.0-elliptic-key', model: '.', trust: keyTrust, ignorePaths: ['ignore-me'] },
  { dir: 'v1.0.1-certificate', model: '.', trust: caTrust, ignorePaths: ['ignore-me'] },
  { dir: 'v1.1.0-certificate', model: '.', trust: caTrust, ignorePaths: ['ignore-me'] },
];

/** A writable copy of a vector directory; the caller removes `root`. */
export async function copyVector(dir: string): Promise<{ root: string; path: string }> {
  const root = await mkdtemp(join(tmpdir(), 'aicert-oms-'));
  const path = join(root, dir);
  await cp(join(REFERENCE, dir), path, { recursive: true });
  await chmod(path, 0o755);
  for (const name of await readdir(path)) await chmod(join(path, name), 0o644);
  return { root, path };
}

export async function removeTree(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

/** The bundle JSON with its payload and signature decoded, and a way to re-encode an edited copy. */
export function decodeBundle(bytes: Buffer): { json: BundleJson; payload: Buffer; sig: Buffer } {
  const json = JSON.parse(bytes.toString('utf8')) as BundleJson;
  return {
    json,
    payload: Buffer.from(json.dsseEnvelope.payload, 'base64'),
    sig: Buffer.from(json.dsseEnvelope.signatures[0]!.sig, 'base64'),
  };
}

export function encodeBundle(json: BundleJson, edit: { payload?: Buffer; sig?: Buffer }): Buffer {
  const copy = structuredClone(json);
  if (edit.payload) copy.dsseEnvelope.payload = edit.payload.toString('base64');
  if (edit.sig) copy.dsseEnvelope.signatures[0]!.sig = edit.sig.toString('base64');
  return Buffer.from(JSON.stringify(copy));
}

export interface BundleJson {
  mediaType: string;
  verificationMaterial: {
    publicKey?: { hint?: string; rawBytes?: string };
    x509CertificateChain?: { certificates: Array<{ rawBytes: string }> };
    tlogEntries?: unknown[];
  };
  dsseEnvelope: { payload: string; payloadType: string; signatures: Array<{ sig: string; keyid?: string | null }> };
}
