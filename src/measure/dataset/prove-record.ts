import type { DatasetTrees } from './dataset-tree.js';
import { PROOF_FORMAT, PROOF_VERSION, TREE_HASH, type DatasetProof, type LeafWitness } from './dataset-proof.js';
import type { TreeKind } from './dataset-root.js';
import { inclusionPath, leafAt, leafCount, leafHash } from './merkle.js';
import { lowerBound } from './sorted-leaves.js';

/**
 * An inclusion proof for `record` in the chosen tree when the dataset holds it (in the order tree,
 * for its first occurrence), otherwise a non-inclusion proof over the sorted set tree.
 */
export function proveRecord(trees: DatasetTrees, record: Uint8Array, tree: TreeKind = 'set'): DatasetProof {
  const target = leafHash(record);
  if (tree === 'order') {
    const index = firstIndexOf(trees.orderLeaves, target);
    if (index >= 0) return inclusionProof('order', leafCount(trees.orderLeaves), witness(trees.orderLeaves, index));
  }
  const leaves = trees.setLeaves;
  const size = leafCount(leaves);
  const position = lowerBound(leaves, target);
  if (position < size && leafAt(leaves, position).equals(target)) {
    return inclusionProof('set', size, witness(leaves, position));
  }
  return nonInclusionProof(
    target,
    size,
    position > 0 ? witness(leaves, position - 1) : null,
    position < size ? witness(leaves, position) : null,
  );
}

const HEADER = { format: PROOF_FORMAT, version: PROOF_VERSION, treeHash: TREE_HASH } as const;

/** The proof that `leaf` is leaf `leaf.index` of a tree of `size` leaves (also index-prove.ts). */
export function inclusionProof(tree: TreeKind, size: number, leaf: LeafWitness): DatasetProof {
  return { ...HEADER, type: 'inclusion', tree, treeSize: size, ...leaf };
}

/** The proof that `target` lies between two adjacent leaves of the set tree (also index-prove.ts). */
export function nonInclusionProof(
  target: Buffer,
  size: number,
  left: LeafWitness | null,
  right: LeafWitness | null,
): DatasetProof {
  return {
    ...HEADER,
    type: 'non-inclusion',
    tree: 'set',
    treeSize: size,
    leafHash: target.toString('hex'),
    left,
    right,
  };
}

function witness(leaves: Buffer, index: number): LeafWitness {
  return {
    index,
    leafHash: leafAt(leaves, index).toString('hex'),
    path: inclusionPath(leaves, index).map((hash) => hash.toString('hex')),
  };
}

function firstIndexOf(leaves: Buffer, target: Buffer): number {
  const count = leafCount(leaves);
  for (let i = 0; i < count; i++) if (leafAt(leaves, i).equals(target)) return i;
  return -1;
}
