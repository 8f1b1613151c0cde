import { z } from 'zod';
import { InputError } from '../../errors.js';
import type { TreeKind } from './dataset-root.js';

/**
 * The JSON form of a dataset proof. It says everything a verifier needs besides the root:
 * which tree (order or set), the tree size, the leaf hash in question, and the audit path(s).
 * Version 1 means RFC 6962 hashing with SHA-256 (leaf = SHA-256(0x00 ‖ record),
 * node = SHA-256(0x01 ‖ left ‖ right)) and the root of dataset-root.ts, which binds tree kind
 * and size, so every field of a proof is authenticated by the root.
 */
export const PROOF_FORMAT = 'aicert-dataset-proof';
export const PROOF_VERSION = 1;
export const TREE_HASH = 'sha256-rfc6962';
/** An audit path in a tree of < 2^53 leaves has at most 53 hashes; 64 is the hard cap. */
export const MAX_PATH_LENGTH = 64;

/** A leaf of the tree with its audit path. */
export interface LeafWitness {
  index: number;
  leafHash: string;
  path: string[];
}

export interface InclusionProof extends LeafWitness {
  format: typeof PROOF_FORMAT;
  version: typeof PROOF_VERSION;
  type: 'inclusion';
  tree: TreeKind;
  treeHash: typeof TREE_HASH;
  treeSize: number;
}

/**
 * The target leaf hash lies strictly between two adjacent leaves of the sorted set tree. At the
 * edges one neighbour is absent (`left` null: target before the first leaf; `right` null: after
 * the last); in an empty tree both are.
 */
export interface NonInclusionProof {
  format: typeof PROOF_FORMAT;
  version: typeof PROOF_VERSION;
  type: 'non-inclusion';
  tree: 'set';
  treeHash: typeof TREE_HASH;
  treeSize: number;
  leafHash: string;
  left: LeafWitness | null;
  right: LeafWitness | null;
}

export type DatasetProof = InclusionProof | NonInclusionProof;

const hashHex = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 hash as 64 lowercase hex digits');
const treeSize = z.int().min(0);
const witnessFields = {
  index: z.int().min(0),
  leafHash: hashHex,
  path: z.array(hashHex).max(MAX_PATH_LENGTH),
};
const header = {
  format: z.literal(PROOF_FORMAT),
  version: z.literal(PROOF_VERSION),
  treeHash: z.literal(TREE_HASH),
  treeSize,
};

const proofSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ ...header, type: z.literal('inclusion'), tree: z.enum(['order', 'set']), ...witnessFields }),
    z.strictObject({
      ...header,
      type: z.literal('non-inclusion'),
      tree: z.literal('set'),
      leafHash: hashHex,
      left: z.strictObject(witnessFields).nullable(),
      right: z.strictObject(witnessFields).nullable(),
    }),
  ])
  .superRefine((proof, ctx) => {
    const indexes = proof.type === 'inclusion' ? [proof.index] : [proof.left?.index, proof.right?.index];
    for (const index of indexes) {
      if (index !== undefined && index >= proof.treeSize) {
        ctx.addIssue({ code: 'custom', message: `leaf index ${index} is not below the tree size ${proof.treeSize}` });
      }
    }
  });

/** Validates untrusted JSON as a proof; anything off-schema is malformed input (exit 2). */
export function parseDatasetProof(json: unknown): DatasetProof {
  const result = proofSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new InputError('proof.malformed', `not a valid dataset proof${where}: ${issue?.message ?? 'invalid'}`);
  }
  return result.data;
}
