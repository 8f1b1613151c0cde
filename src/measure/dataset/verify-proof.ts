import type { DatasetProof, LeafWitness } from './dataset-proof.js';
import { datasetRoot, type TreeKind } from './dataset-root.js';
import { EMPTY_ROOT, leafHash, rootFromInclusionPath } from './merkle.js';

export type ProofVerdict = { valid: true; statement: string } | { valid: false; reason: string };

/**
 * Checks a parsed proof against a trusted root (dataset-root.ts) alone. When `record` is given,
 * the proof must also be about that record (its leaf hash must be SHA-256(0x00 ‖ record)).
 *
 * A non-inclusion proof is sound only if the root is a *set* root, i.e. the tree's leaves are
 * sorted and distinct; that is a property of how the root was made (aicert makes it so), which
 * the verifier accepts with the root.
 */
export function verifyDatasetProof(proof: DatasetProof, root: Uint8Array, record?: Uint8Array): ProofVerdict {
  const target = Buffer.from(proof.leafHash, 'hex');
  if (record !== undefined && !leafHash(record).equals(target)) {
    return { valid: false, reason: 'the proof is about another record (its leaf hash differs)' };
  }
  const expectedRoot = Buffer.from(root);

  if (proof.type === 'inclusion') {
    if (!leadsToRoot(proof, proof.tree, proof.treeSize, expectedRoot)) {
      return { valid: false, reason: 'the audit path does not lead to the given root' };
    }
    return {
      valid: true,
      statement: `leaf ${proof.leafHash} is leaf ${proof.index} of the ${proof.tree} tree of ${proof.treeSize} leaves`,
    };
  }

  const { left, right, treeSize } = proof;
  if (treeSize === 0) {
    if (left !== null || right !== null) return { valid: false, reason: 'an empty tree has no neighbours' };
    if (!datasetRoot('set', 0, EMPTY_ROOT).equals(expectedRoot)) {
      return { valid: false, reason: 'the root is not the root of the empty set tree' };
    }
    return { valid: true, statement: `leaf ${proof.leafHash} is not in the empty set tree` };
  }
  if (left === null && right === null) return { valid: false, reason: 'a non-empty tree needs a neighbour' };
  if (left === null && right!.index !== 0) {
    return { valid: false, reason: 'without a left neighbour the right one must be the first leaf' };
  }
  if (right === null && left!.index !== treeSize - 1) {
    return { valid: false, reason: 'without a right neighbour the left one must be the last leaf' };
  }
  if (left !== null && right !== null && right.index !== left.index + 1) {
    return { valid: false, reason: 'the neighbours are not adjacent leaves' };
  }
  if (left !== null && Buffer.compare(Buffer.from(left.leafHash, 'hex'), target) >= 0) {
    return { valid: false, reason: 'the left neighbour does not sort before the leaf' };
  }
  if (right !== null && Buffer.compare(target, Buffer.from(right.leafHash, 'hex')) >= 0) {
    return { valid: false, reason: 'the right neighbour does not sort after the leaf' };
  }
  for (const neighbour of [left, right]) {
    if (neighbour !== null && !leadsToRoot(neighbour, 'set', treeSize, expectedRoot)) {
      return {
        valid: false,
        reason: `the audit path of neighbour leaf ${neighbour.index} does not lead to the given root`,
      };
    }
  }
  return {
    valid: true,
    statement: `leaf ${proof.leafHash} is not in the set tree of ${treeSize} leaves`,
  };
}

function leadsToRoot(witness: LeafWitness, tree: TreeKind, treeSize: number, root: Buffer): boolean {
  const merkleTreeHash = rootFromInclusionPath(
    witness.index,
    treeSize,
    Buffer.from(witness.leafHash, 'hex'),
    witness.path.map((hex) => Buffer.from(hex, 'hex')),
  );
  return merkleTreeHash !== undefined && datasetRoot(tree, treeSize, merkleTreeHash).equals(root);
}
