import { createPublicKey, type KeyObject } from 'node:crypto';
import { AicertError, InputError, VerificationError } from '../../errors.js';
import type { HashPool } from '../../measure/hash-pool.js';
import { measurePath, type Manifest } from '../../measure/manifest.js';
import { verifyDsseSignature } from '../dsse.js';
import {
  allowsCodeSigning,
  certificatePublicKey,
  describeCertificate,
  parseCertificateDer,
  validateCertificatePath,
  type ParsedCertificate,
} from '../../pki/x509-path.js';
import { parseOmsBundle, type OmsBundle, type VerificationMaterial } from './bundle.js';
import { publicKeyHint, requireOmsKey } from './keys.js';
import { signatureIgnorePath } from './paths.js';
import { parseOmsStatement, type SignedModel } from './statement.js';

/**
 * OMS verification (spec §8): bundle structure, then the signature with the trusted key or a
 * certificate chained to a trusted CA, then the signed statement, then a fresh measurement of
 * the model with the signed serialization, compared resource by resource.
 */

/** What the verifier trusts: one public key, or CA certificates for the certificate method. */
export type OmsTrust = { publicKey: KeyObject } | { certificateAuthorities: readonly ParsedCertificate[] };

export interface SignatureCheck {
  method: 'key' | 'certificate';
  /** The key hint, or the subject of the signing certificate. */
  signer: string;
  signed: SignedModel;
}

export interface ModelCheck extends SignatureCheck {
  /** Local measurement, equal to the signed manifest. */
  manifest: Manifest;
}

export interface VerifyModelOptions {
  /** The bundle's path, left out of the measurement when it is inside the model. */
  signaturePath?: string;
  /**
   * Extra model-relative paths to leave out; needed for bundles older than model_signing v1.1.0,
   * which did not record the signer's ignore paths.
   */
  ignorePaths?: readonly string[];
  /** Called with bytes hashed so far and the total. */
  onProgress?: (done: number, total: number) => void;
  /** Hash pool to reuse across calls; default a pool of its own. */
  pool?: HashPool;
}

/**
 * Checks the bundle and its signature without looking at the model. Structural problems are
 * InputErrors (exit 2); a signature, key, chain or statement that does not hold is a
 * VerificationError (exit 1).
 */
export function verifyOmsBundle(bundleBytes: Uint8Array, trust: OmsTrust): SignatureCheck {
  const bundle = parseOmsBundle(bundleBytes);
  const { material } = bundle;
  if (material.method === 'sigstore') {
    throw new InputError(
      'oms.sigstore-unsupported',
      'the bundle uses Sigstore keyless signing (Fulcio certificate, Rekor log), which aicert does not verify; ' +
        'use `model_signing verify sigstore`',
    );
  }
  const { publicKey, signer } =
    material.method === 'key' ? checkKeyMaterial(material, trust) : checkCertificateMaterial(material.chain, trust);
  const [signature] = bundle.envelope.signatures;
  if (!signature || !verifyDsseSignature(bundle.envelope, signature, publicKey)) {
    throw new VerificationError('oms.signature', `the bundle's signature does not verify with ${signer}`);
  }
  return { method: material.method, signer, signed: signedModelOf(bundle) };
}

/** Verifies the bundle, then re-measures the model and compares it with what was signed. */
export async function verifyModelSignature(
  modelPath: string,
  bundleBytes: Uint8Array,
  trust: OmsTrust,
  options: VerifyModelOptions = {},
): Promise<ModelCheck> {
  const check = verifyOmsBundle(bundleBytes, trust);
  const { serialization } = check.signed;
  if (serialization.hash_type === 'blake2b') {
    throw new InputError(
      'oms.unsupported-hash',
      'the model was signed with blake2b digests, which aicert cannot recompute',
    );
  }
  const signature = options.signaturePath && (await signatureIgnorePath(modelPath, options.signaturePath));
  const manifest = await measurePath(modelPath, {
    algorithm: serialization.hash_type,
    ...(serialization.shard_size !== undefined && { shardSize: serialization.shard_size }),
    ignore: [...(serialization.ignore_paths ?? []), ...(options.ignorePaths ?? []), ...(signature ? [signature] : [])],
    allowSymlinks: serialization.allow_symlinks,
    ...(options.onProgress && { onProgress: options.onProgress }),
    ...(options.pool && { pool: options.pool }),
  });
  compareWithSigned(check.signed, manifest);
  return { ...check, manifest };
}

/**
 * Every signed resource must be measured with the same digest and nothing else may be measured
 * (spec §8.4). Lists up to a few differences of each kind, like the reference verifier.
 */
export function compareWithSigned(signed: SignedModel, manifest: Manifest): void {
  const expected = new Map(signed.resources.map((r) => [r.name, r.digest]));
  const actual = new Map(manifest.entries.map((e) => [e.name, e.digest]));
  const extra = [...actual.keys()].filter((name) => !expected.has(name));
  const missing = [...expected.keys()].filter((name) => !actual.has(name));
  const changed = [...actual.entries()]
    .filter(([name, digest]) => expected.has(name) && expected.get(name) !== digest)
    .map(([n]) => n);
  const problems = [
    listed('files not in the signature', extra),
    listed('signed files missing', missing),
    listed('files whose digest differs', changed),
  ].filter((p) => p !== undefined);
  if (problems.length > 0) {
    throw new VerificationError('oms.model-mismatch', `the model does not match its signature: ${problems.join('; ')}`);
  }
}

function listed(what: string, names: string[]): string | undefined {
  if (names.length === 0) return undefined;
  const shown = names.slice(0, 5).map((n) => JSON.stringify(n));
  return `${what}: ${shown.join(', ')}${names.length > shown.length ? ` and ${names.length - shown.length} more` : ''}`;
}

/** The statement is trusted only now; problems in it mean the signature certifies no usable model. */
function signedModelOf(bundle: OmsBundle): SignedModel {
  try {
    return parseOmsStatement(bundle.envelope.payload);
  } catch (err) {
    if (err instanceof AicertError) throw new VerificationError(err.code, err.message, { cause: err });
    throw err;
  }
}

function checkKeyMaterial(
  material: Extract<VerificationMaterial, { method: 'key' }>,
  trust: OmsTrust,
): { publicKey: KeyObject; signer: string } {
  if (!('publicKey' in trust)) {
    throw new VerificationError(
      'oms.method-mismatch',
      'the bundle was signed with a bare key; verify it with --key, not a certificate chain',
    );
  }
  const { keyDetails } = requireOmsKey(trust.publicKey, 'the verification key');
  const hint = publicKeyHint(trust.publicKey);
  if (material.hint !== undefined && material.hint !== hint) {
    throw new VerificationError(
      'oms.key-mismatch',
      `the bundle was signed by the key with hint ${material.hint}, not by the key given (${hint})`,
    );
  }
  // Bundles before model_signing v1.1.0 carry the key itself; it must be the trusted one.
  if (material.rawBytes !== undefined && !sameKey(material.rawBytes, trust.publicKey)) {
    throw new VerificationError('oms.key-mismatch', 'the bundle names a different public key than the one given');
  }
  if (material.keyDetails !== undefined && material.keyDetails !== keyDetails) {
    throw new VerificationError(
      'oms.key-mismatch',
      `the bundle declares a ${material.keyDetails} key, the key given is ${keyDetails}`,
    );
  }
  return { publicKey: trust.publicKey, signer: `the key with hint ${hint}` };
}

function sameKey(encoded: Buffer, trusted: KeyObject): boolean {
  const der = (key: KeyObject) => key.export({ type: 'spki', format: 'der' });
  try {
    const text = encoded.toString('utf8');
    const key = text.includes('-----BEGIN')
      ? createPublicKey(text)
      : createPublicKey({ key: encoded, format: 'der', type: 'spki' });
    return der(key).equals(der(trusted));
  } catch {
    return false;
  }
}

/**
 * As the reference verifier (model_signing _signing/sign_certificate.py): the chain is validated
 * at the leaf's notBefore (a bundle holds no trusted signing time), and the leaf must allow
 * digitalSignature or codeSigning.
 */
function checkCertificateMaterial(chain: readonly Buffer[], trust: OmsTrust): { publicKey: KeyObject; signer: string } {
  if (!('certificateAuthorities' in trust)) {
    throw new VerificationError(
      'oms.method-mismatch',
      'the bundle was signed with a certificate; verify it with --certificate-chain, not --key',
    );
  }
  const [leaf, ...intermediates] = chain.map((der, i) =>
    parseCertificateDer(der, i === 0 ? 'the signing certificate' : `chain certificate ${i}`),
  );
  if (!leaf) throw new InputError('oms.bundle.verification-material', 'the certificate chain is empty');
  const publicKey = certificatePublicKey(leaf);
  requireOmsKey(publicKey, `the key of the signing certificate ${describeCertificate(leaf)}`);
  validateCertificatePath(leaf, intermediates, trust.certificateAuthorities, leaf.notBefore);
  if (!allowsCodeSigning(leaf)) {
    throw new VerificationError(
      'oms.certificate-usage',
      `the signing certificate ${describeCertificate(leaf)} allows neither digitalSignature nor codeSigning`,
    );
  }
  return { publicKey, signer: `the certificate ${describeCertificate(leaf)}` };
}
