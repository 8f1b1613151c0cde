import { createHash } from 'node:crypto';

export type TreeKind = 'order' | 'set';

const DOMAIN = Buffer.from('aicert.dataset-root.v1\0', 'latin1');
const KIND_BYTE: Readonly<Record<TreeKind, number>> = { order: 0, set: 1 };

/**
 * The root aicert publishes for a dataset tree:
 *   SHA-256("aicert.dataset-root.v1" ‖ 0x00 ‖ kind (0 order, 1 set) ‖ size as u64 big-endian ‖ MTH)
 * where MTH is the RFC 6962 Merkle tree hash of the leaves.
 *
 * Why not publish MTH alone: an RFC 6962 audit path does not authenticate the tree size (CT
 * signs the size beside the root for that reason). With only MTH, a prover can claim a smaller
 * tree whose "leaves" are inner nodes of the real one, and bracket a record that *is* in the set
 * between two such nodes: a forged non-inclusion proof (test/measure/dataset has the attack).
 * Binding size and kind into the root makes a proof checkable from this one value.
 */
export function datasetRoot(kind: TreeKind, size: number, merkleTreeHash: Uint8Array): Buffer {
  const header = Buffer.alloc(9);
  header[0] = KIND_BYTE[kind];
  header.writeBigUInt64BE(BigInt(size), 1);
  return createHash('sha256').update(DOMAIN).update(header).update(merkleTreeHash).digest();
}
