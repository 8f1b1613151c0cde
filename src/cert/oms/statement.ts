import { InputError } from '../../errors.js';
import { normalizeIgnorePath, rootDigestOf } from '../../measure/manifest.js';
import { parseStatement, STATEMENT_V1_TYPE, type Statement } from '../intoto.js';
import {
  OMS_DIGEST_SIZE,
  OMS_PREDICATE_TYPE,
  omsPredicateSchema,
  type OmsPredicate,
  type OmsResource,
  type OmsSerialization,
} from './predicate.js';

/**
 * The OMS in-toto statement: one subject (the model, named by its root digest) and the OMS
 * predicate. `buildOmsStatement` makes it for signing; `parseOmsStatement` reads a verified
 * payload and checks everything that can be checked without the model.
 */

export type OmsStatement = Statement<OmsPredicate> & { predicate: OmsPredicate };

export function buildOmsStatement(
  modelName: string,
  resources: OmsResource[],
  serialization: OmsSerialization,
): OmsStatement {
  return {
    _type: STATEMENT_V1_TYPE,
    subject: [{ name: modelName, digest: { sha256: rootDigestOf(resources) } }],
    predicateType: OMS_PREDICATE_TYPE,
    predicate: { resources, serialization },
  };
}

/** A signed model description, as read from a verified OMS payload. */
export interface SignedModel {
  /** Informational only (spec §6.5): the basename the signer saw. */
  modelName: string;
  rootDigest: string;
  resources: OmsResource[];
  serialization: OmsSerialization;
}

/**
 * Parses the payload of a verified envelope. Beyond the schema it checks that names are unique,
 * that each digest has its algorithm's length, that each resource uses the recorded hash, that
 * ignore paths are plain relative paths, and that the subject digest is the root of the listed
 * resources (as the reference verifier does). Errors are `oms.payload.*` InputErrors.
 */
export function parseOmsStatement(payload: Uint8Array): SignedModel {
  const statement = parseStatement(
    payload,
    { predicateType: OMS_PREDICATE_TYPE, predicate: omsPredicateSchema },
    'oms.payload',
  );
  const [subject, ...others] = statement.subject;
  if (!subject || others.length > 0) {
    throw new InputError(
      'oms.payload.subject',
      `an OMS statement has exactly one subject, this one has ${statement.subject.length}`,
    );
  }
  const root = subject.digest?.sha256;
  if (root === undefined || !/^[0-9a-f]{64}$/.test(root)) {
    throw new InputError('oms.payload.subject', 'the OMS subject has no SHA-256 root digest (64 lowercase hex digits)');
  }
  const { resources, serialization } = statement.predicate;
  checkResources(resources, serialization);
  for (const path of serialization.ignore_paths ?? []) checkIgnorePath(path);
  const listedRoot = rootDigestOf(resources);
  if (listedRoot !== root) {
    throw new InputError(
      'oms.payload.root-digest',
      `the signed root digest ${root} is not the digest of the signed resources (${listedRoot})`,
    );
  }
  return { modelName: subject.name ?? '', rootDigest: root, resources, serialization };
}

function checkResources(resources: OmsResource[], serialization: OmsSerialization): void {
  const size = OMS_DIGEST_SIZE[serialization.hash_type];
  // The reference tool names shard digests `<hash>-sharded-<size>` (model_signing _hashing/io.py).
  const accepted = new Set<string>([serialization.hash_type]);
  if (serialization.shard_size !== undefined)
    accepted.add(`${serialization.hash_type}-sharded-${serialization.shard_size}`);
  const names = new Set<string>();
  for (const resource of resources) {
    if (names.has(resource.name)) {
      throw new InputError('oms.payload.resources', `the resource ${JSON.stringify(resource.name)} is listed twice`);
    }
    names.add(resource.name);
    if (!accepted.has(resource.algorithm)) {
      throw new InputError(
        'oms.payload.resources',
        `the resource ${JSON.stringify(resource.name)} uses algorithm ${JSON.stringify(resource.algorithm)}, ` +
          `but the serialization says ${serialization.hash_type}`,
      );
    }
    if (resource.digest.length !== size * 2) {
      throw new InputError(
        'oms.payload.resources',
        `the ${serialization.hash_type} digest of ${JSON.stringify(resource.name)} has ${resource.digest.length} hex digits, expected ${size * 2}`,
      );
    }
  }
}

/** Spec §6.2.1: signed ignore paths are exact relative POSIX paths, already in canonical form. */
function checkIgnorePath(path: string): void {
  let canonical: string | undefined;
  try {
    canonical = normalizeIgnorePath(path);
  } catch {
    canonical = undefined;
  }
  if (canonical !== path) {
    throw new InputError(
      'oms.payload.ignore-paths',
      `the signed ignore path ${JSON.stringify(path)} is not a plain relative path inside the model`,
    );
  }
}
