import { createPublicKey, type KeyObject } from 'node:crypto';
import { basename, resolve } from 'node:path';
import { InputError } from '../../errors.js';
import type { HashPool } from '../../measure/hash-pool.js';
import { measurePath, type Manifest } from '../../measure/manifest.js';
import { signDsse } from '../dsse.js';
import { IN_TOTO_PAYLOAD_TYPE, serializeStatement } from '../intoto.js';
import {
  allowsCodeSigning,
  certificatePublicKey,
  describeCertificate,
  type ParsedCertificate,
} from '../../pki/x509-path.js';
import { serializeOmsBundle } from './bundle.js';
import { publicKeyHint, requireOmsKey } from './keys.js';
import { signatureIgnorePath } from './paths.js';
import { OMS_HASH_TYPES, type OmsHashType, type OmsSerialization } from './predicate.js';
import { buildOmsStatement } from './statement.js';

/**
 * Who signs: a private key alone (OMS `key` method: the bundle names the key by its hint), or a
 * private key with its certificate and the CA certificates above it (`certificate` method).
 */
export interface OmsSigner {
  privateKey: KeyObject;
  /** Leaf first, then its issuers; the leaf must certify `privateKey`. */
  certificateChain?: readonly ParsedCertificate[];
}

export interface SignModelOptions {
  /** Where the bundle will be written; left out of the manifest when it is inside the model. */
  signaturePath: string;
  /** Extra model-relative paths to leave out (the git paths are always left out). */
  ignorePaths?: readonly string[];
  algorithm?: 'sha256' | 'blake3';
  /** Selects the `shards` serialization. */
  shardSize?: number;
  allowSymlinks?: boolean;
  /** Called with bytes hashed so far and the total. */
  onProgress?: (done: number, total: number) => void;
  /** Hash pool to reuse across calls; default a pool of its own. */
  pool?: HashPool;
}

/** Measures the model and returns the OMS bundle bytes (compact JSON) and the manifest signed. */
export async function signModel(
  modelPath: string,
  signer: OmsSigner,
  options: SignModelOptions,
): Promise<{ bundle: Buffer; manifest: Manifest }> {
  checkSigner(signer);
  const signature = await signatureIgnorePath(modelPath, options.signaturePath);
  const manifest = await measurePath(modelPath, {
    algorithm: options.algorithm ?? 'sha256',
    ...(options.shardSize !== undefined && { shardSize: options.shardSize }),
    ignore: [...(options.ignorePaths ?? []), ...(signature === undefined ? [] : [signature])],
    allowSymlinks: options.allowSymlinks ?? false,
    ...(options.onProgress && { onProgress: options.onProgress }),
    ...(options.pool && { pool: options.pool }),
  });
  return { bundle: createOmsBundle(manifest, basename(resolve(modelPath)), signer), manifest };
}

/** Signs a manifest as an OMS v1.0 statement; `modelName` is informational (spec §6.5). */
export function createOmsBundle(manifest: Manifest, modelName: string, signer: OmsSigner): Buffer {
  checkSigner(signer);
  const hashType = omsHashType(manifest);
  const serialization: OmsSerialization = {
    method: manifest.method,
    hash_type: hashType,
    allow_symlinks: manifest.allowSymlinks,
    ...(manifest.shardSize !== undefined && { shard_size: manifest.shardSize }),
    ignore_paths: manifest.ignorePaths,
  };
  const resources = manifest.entries.map((entry) => ({ name: entry.name, algorithm: hashType, digest: entry.digest }));
  const payload = serializeStatement(buildOmsStatement(modelName, resources, serialization));
  const envelope = signDsse(IN_TOTO_PAYLOAD_TYPE, payload, [{ privateKey: signer.privateKey }]);
  return signer.certificateChain
    ? serializeOmsBundle({ method: 'certificate', chain: signer.certificateChain.map((c) => c.der) }, envelope)
    : serializeOmsBundle({ method: 'key', hint: publicKeyHint(createPublicKey(signer.privateKey)) }, envelope);
}

function omsHashType(manifest: Manifest): OmsHashType {
  const algorithm = manifest.hashAlgorithm;
  if (!(OMS_HASH_TYPES as readonly string[]).includes(algorithm)) {
    throw new InputError('oms.unsupported-hash', `OMS signatures hash files with sha256 or blake3, not ${algorithm}`);
  }
  return algorithm as OmsHashType;
}

/** Refuses, before any hashing, a key OMS does not allow or a certificate that does not match it. */
function checkSigner(signer: OmsSigner): void {
  if (signer.privateKey.type !== 'private') {
    throw new InputError('oms.signing-key', 'signing needs a private key');
  }
  requireOmsKey(signer.privateKey, 'the signing key');
  const leaf = signer.certificateChain?.[0];
  if (signer.certificateChain && !leaf) {
    throw new InputError(
      'oms.signing-certificate',
      'the certificate chain is empty; it must start with the signing certificate',
    );
  }
  if (!leaf) return;
  const ownPublicKey = createPublicKey(signer.privateKey).export({ type: 'spki', format: 'der' });
  if (!certificatePublicKey(leaf).export({ type: 'spki', format: 'der' }).equals(ownPublicKey)) {
    throw new InputError(
      'oms.signing-certificate',
      `the signing certificate ${describeCertificate(leaf)} certifies a different key than the private key given`,
    );
  }
  if (!allowsCodeSigning(leaf)) {
    throw new InputError(
      'oms.signing-certificate',
      `the signing certificate ${describeCertificate(leaf)} allows neither digitalSignature nor codeSigning, so verifiers would refuse it`,
    );
  }
}
