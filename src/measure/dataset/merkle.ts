import { createHash, hash } from 'node:crypto';

/**
 * Merkle trees as RFC 6962 / RFC 9162 §2.1 define them (Certificate Transparency): leaves and
 * inner nodes are hashed with different one-byte prefixes so a leaf can never be passed off as a
 * node, and a tree of n leaves splits at the largest power of two below n.
 *
 * Leaf hashes are held as one Buffer of n × 32 bytes ("a leaf buffer"): 32 bytes per record is
 * all a multi-GB dataset costs in memory.
 */

export const HASH_BYTES = 32;
const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = 0x01;

/** MTH({}) = SHA-256 of the empty string. */
export const EMPTY_ROOT: Buffer = hash('sha256', Buffer.alloc(0), 'buffer');

/** SHA-256(0x00 ‖ record). */
export function leafHash(record: Uint8Array): Buffer {
  return createHash('sha256').update(LEAF_PREFIX).update(record).digest();
}

const nodeInput = Buffer.alloc(1 + 2 * HASH_BYTES);
nodeInput[0] = NODE_PREFIX;

/** SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + HASH_BYTES);
  return hash('sha256', nodeInput, 'buffer');
}

export function leafCount(leaves: Buffer): number {
  return leaves.length / HASH_BYTES;
}

export function leafAt(leaves: Buffer, index: number): Buffer {
  return leaves.subarray(index * HASH_BYTES, (index + 1) * HASH_BYTES);
}

/**
 * MTH(D[n]). Computed level by level, promoting an unpaired last node unchanged: that yields
 * exactly the RFC 6962 split-at-largest-power-of-two tree (the tests check it against the
 * recursive definition) without recursion over millions of leaves.
 *
 * The levels live in one working buffer at offset 1, and node i is written over the start of the
 * pair it was hashed from. A pair's two hashes are contiguous, so SHA-256(0x01 ‖ left ‖ right) is
 * taken over the byte before the pair, set to 0x01, and the pair in place: one hash call per node
 * and no copying, which is most of what a node costs beside the call itself. That byte is the
 * free byte 0 or the last byte of the previous pair, already read and not yet overwritten
 * (outputs so far end at 32·i, before the pair's 64·i).
 */
export function merkleRoot(leaves: Buffer, scratch?: WorkBuffer): Buffer {
  let count = leafCount(leaves);
  if (count === 0) return Buffer.from(EMPTY_ROOT);
  if (count === 1) return Buffer.from(leafAt(leaves, 0));
  const work = scratch ? scratch.take(1 + count * HASH_BYTES) : Buffer.allocUnsafe(1 + count * HASH_BYTES);
  leaves.copy(work, 1, 0, count * HASH_BYTES);
  while (count > 1) {
    const pairs = Math.floor(count / 2);
    for (let i = 0; i < pairs; i++) {
      const pair = 2 * i * HASH_BYTES; // the prefix byte's index; the pair follows it
      work[pair] = NODE_PREFIX;
      hashInto(work, 1 + i * HASH_BYTES, new Uint8Array(work.buffer, work.byteOffset + pair, 1 + 2 * HASH_BYTES));
    }
    if (count % 2 === 1) {
      work.copyWithin(1 + pairs * HASH_BYTES, 1 + (count - 1) * HASH_BYTES, 1 + count * HASH_BYTES);
    }
    count = pairs + (count % 2);
  }
  return Buffer.from(work.subarray(1, 1 + HASH_BYTES));
}

/**
 * A working buffer kept across many calls (a record worker's, for block roots and sorts): fresh
 * memory costs a page fault per 4 KiB on its first write, which on a virtual machine costs about
 * as much as hashing the nodes in it.
 */
export class WorkBuffer {
  private buffer = Buffer.alloc(0);

  /** A buffer of `bytes` bytes, reused; its content is left over from earlier calls. */
  take(bytes: number): Buffer {
    if (this.buffer.length < bytes) this.buffer = Buffer.allocUnsafeSlow(bytes);
    return this.buffer.subarray(0, bytes);
  }
}

/**
 * Writes SHA-256(input) into out[at, at + 32). The digest is taken as a latin1 ('binary')
 * string (one character per byte) and written back byte for byte: in Node 20 that costs a third of a
 * digest returned as a Buffer, whose fresh backing store dominates a 65-byte hash (0.5 µs against
 * 1.5 µs per node measured), and inner nodes and leaves are most of the work of a record tree.
 */
export function hashInto(out: Buffer, at: number, input: Uint8Array): void {
  out.write(hash('sha256', input, 'binary'), at, HASH_BYTES, 'latin1');
}

/** The largest power of two strictly below n (n ≥ 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * PATH(m, D[n]) of RFC 6962 §2.1.1: the sibling hashes from the leaf up to the root, which is the
 * audit path of leaf `index`. Costs one pass over the leaves.
 */
export function inclusionPath(leaves: Buffer, index: number): Buffer[] {
  const count = leafCount(leaves);
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new RangeError(`leaf index ${index} outside a tree of ${count} leaves`);
  }
  const path: Buffer[] = [];
  let lo = 0;
  let hi = count;
  let m = index;
  // Walk down from the root; each step records the hash of the subtree not taken.
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (m < k) {
      path.push(merkleRoot(leaves.subarray((lo + k) * HASH_BYTES, hi * HASH_BYTES)));
      hi = lo + k;
    } else {
      path.push(merkleRoot(leaves.subarray(lo * HASH_BYTES, (lo + k) * HASH_BYTES)));
      lo += k;
      m -= k;
    }
  }
  return path.reverse();
}

/** Number of hashes in the audit path of leaf `index` in a tree of `size` leaves. */
export function inclusionPathLength(index: number, size: number): number {
  let length = 0;
  let lo = 0;
  let hi = size;
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (index - lo < k) hi = lo + k;
    else lo += k;
    length++;
  }
  return length;
}

/**
 * The root that an audit path leads to (RFC 9162 §2.1.3.2), or undefined when the path has the
 * wrong length for (index, size). Callers bound index < size ≤ 2^53 and the path length first;
 * halving uses division, not bit shifts, because indexes may exceed 2^32.
 */
export function rootFromInclusionPath(
  index: number,
  size: number,
  leaf: Uint8Array,
  path: readonly Uint8Array[],
): Buffer | undefined {
  if (index >= size) return undefined;
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const sibling of path) {
    if (sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(sibling, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, sibling);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : undefined;
}
