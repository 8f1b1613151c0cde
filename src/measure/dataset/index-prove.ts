import { InputError } from '../../errors.js';
import type { DatasetIndex, IndexSection } from './dataset-index.js';
import type { DatasetProof, LeafWitness } from './dataset-proof.js';
import type { TreeKind } from './dataset-root.js';
import { datasetFileVersions, sameFiles } from './index-build.js';
import { HASH_BYTES, inclusionPath, leafHash, merkleRoot } from './merkle.js';
import { inclusionProof, nonInclusionProof } from './prove-record.js';
import { verifyDatasetProof } from './verify-proof.js';

/**
 * Refuses an index that is not of the dataset at `path` as it is now: another file list, or a
 * file whose size, times or inode moved since the index was written (`dataset.index-stale`).
 */
export async function checkIndexCurrent(index: DatasetIndex, path: string): Promise<void> {
  const now = await datasetFileVersions(path);
  if (!sameFiles(index.header.files, now)) {
    throw new InputError(
      'dataset.index-stale',
      `${index.path} is not an index of ${path} as it is now (its files changed since it was written); ` +
        'run aicert data index again',
    );
  }
}

/**
 * The proof `proveRecord` (prove-record.ts) gives for `record`, made from an index with a few
 * small reads: a binary search of the set leaves (log2 n reads of one leaf), the leaves of one
 * block and the block roots. An order-tree position is found by scanning the order leaves for
 * the record's leaf (memory speed: a native search of 8 MiB reads). The proof is then checked
 * against the index's root before it is returned: an index whose sections were edited or damaged
 * gives `dataset.index-corrupt`, never a proof that does not check.
 */
export async function proveRecordFromIndex(
  index: DatasetIndex,
  record: Uint8Array,
  tree: TreeKind = 'set',
): Promise<DatasetProof> {
  const proof = await assembleProof(index, leafHash(record), tree);
  const { orderRoot, setRoot } = index.header.dataset;
  const root = Buffer.from(proof.tree === 'order' ? orderRoot : setRoot, 'hex');
  const verdict = verifyDatasetProof(proof, root, record);
  if (!verdict.valid)
    throw corrupt(index, `a proof from it does not lead to its ${proof.tree} root (${verdict.reason})`);
  return proof;
}

function corrupt(index: DatasetIndex, why: string): InputError {
  return new InputError(
    'dataset.index-corrupt',
    `${index.path} is damaged or edited: ${why}; run aicert data index again`,
  );
}

async function assembleProof(index: DatasetIndex, target: Buffer, tree: TreeKind): Promise<DatasetProof> {
  const size = index.count('setLeaves');
  const position = await lowerBound(index, target);
  if (position < size && (await index.read('setLeaves', position, 1)).equals(target)) {
    if (tree === 'order') {
      const first = await index.orderPosition(position);
      return inclusionProof('order', index.count('orderLeaves'), await witness(index, 'order', first));
    }
    return inclusionProof('set', size, await witness(index, 'set', position));
  }
  return nonInclusionProof(
    target,
    size,
    position > 0 ? await witness(index, 'set', position - 1) : null,
    position < size ? await witness(index, 'set', position) : null,
  );
}

/**
 * Leaf `position` of a tree with its audit path. The tree of n leaves is the RFC 6962 tree over
 * its blocks of B leaves (streaming-merkle.ts), so the path is the leaf's path inside its block
 * followed by the block's path among the block roots (the last, partial block by its MTH).
 */
async function witness(index: DatasetIndex, tree: TreeKind, position: number): Promise<LeafWitness> {
  const leavesSection: IndexSection = tree === 'order' ? 'orderLeaves' : 'setLeaves';
  const rootsSection: IndexSection = tree === 'order' ? 'orderBlockRoots' : 'setBlockRoots';
  const size = index.count(leavesSection);
  const blockLeaves = index.header.blockLeaves;
  const block = Math.floor(position / blockLeaves);
  const blockStart = block * blockLeaves;
  const leaves = await index.read(leavesSection, blockStart, Math.min(blockLeaves, size - blockStart));
  const offset = position - blockStart;
  const inner = inclusionPath(leaves, offset);
  const fullBlocks = index.count(rootsSection);
  const items = [await index.read(rootsSection, 0, fullBlocks)];
  if (size % blockLeaves !== 0) {
    const lastStart = fullBlocks * blockLeaves;
    items.push(
      merkleRoot(block === fullBlocks ? leaves : await index.read(leavesSection, lastStart, size - lastStart)),
    );
  }
  const blockItems = Buffer.concat(items);
  const outer = blockItems.length > HASH_BYTES ? inclusionPath(blockItems, block) : [];
  return {
    index: position,
    leafHash: leaves.subarray(offset * HASH_BYTES, (offset + 1) * HASH_BYTES).toString('hex'),
    path: [...inner, ...outer].map((hash) => hash.toString('hex')),
  };
}

/** The first index whose set leaf is ≥ target (= the leaf count when none is): log2 n reads. */
async function lowerBound(index: DatasetIndex, target: Buffer): Promise<number> {
  let lo = 0;
  let hi = index.count('setLeaves');
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (Buffer.compare(await index.read('setLeaves', mid, 1), target) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
