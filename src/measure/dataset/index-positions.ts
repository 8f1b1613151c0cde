import { HASH_BYTES } from './merkle.js';

/** Set leaves whose positions are found in one pass over the order leaves (16 MiB of keys and positions). */
const RANGE_LEAVES = 2 ** 20;
/** Order leaves read at a time (8 MiB). */
const SCAN_LEAVES = 2 ** 18;

/** Sizes the tests make small so that a few leaves take every path. */
export interface PositionTuning {
  rangeLeaves?: number;
  scanLeaves?: number;
}

/** Reads `count` hashes from index `from` of the order or set leaves. */
export type LeafReader = (section: 'orderLeaves' | 'setLeaves', from: number, count: number) => Promise<Buffer>;

/**
 * The order positions section of a dataset index (dataset-index.ts): for each set leaf, in set
 * order, the index of its first occurrence among the order leaves, as 8-byte big-endian
 * integers, handed to `emit` range by range. Memory is bounded whatever the record count: the
 * set leaves are taken a range of 2^20 at a time, as their leading 48 bits (as numbers, sorted
 * like the leaves), and the order leaves are scanned once per range; a leaf whose leading bits
 * are shared (rare) or at a range edge is compared whole. Every order leaf is in the set, so a
 * leaf that falls inside a range and matches nothing there is a defect, thrown as such.
 */
export async function writeOrderPositions(
  read: LeafReader,
  records: number,
  distinct: number,
  emit: (bytes: Buffer) => Promise<void>,
  tuning: PositionTuning = {},
): Promise<void> {
  const rangeLeaves = tuning.rangeLeaves ?? RANGE_LEAVES;
  const scanLeaves = tuning.scanLeaves ?? SCAN_LEAVES;
  for (let from = 0; from < distinct; from += rangeLeaves) {
    const n = Math.min(rangeLeaves, distinct - from);
    const keys = new Float64Array(n);
    for (let at = 0; at < n; at += scanLeaves) {
      const leaves = await read('setLeaves', from + at, Math.min(scanLeaves, n - at));
      for (let i = 0; i * HASH_BYTES < leaves.length; i++) keys[at + i] = leadingKey(leaves, i * HASH_BYTES);
    }
    const positions = new Float64Array(n).fill(-1);
    let missing = n;
    for (let at = 0; at < records && missing > 0; at += scanLeaves) {
      const leaves = await read('orderLeaves', at, Math.min(scanLeaves, records - at));
      for (let i = 0; i * HASH_BYTES < leaves.length; i++) {
        const key = leadingKey(leaves, i * HASH_BYTES);
        if (key < keys[0]! || key > keys[n - 1]!) continue;
        let k = lowerBound(keys, key);
        if (keys[k] !== key) throw new Error('an order leaf is not among the set leaves (a defect in aicert)');
        if (k === 0 || k === n - 1 || keys[k + 1] === key) {
          k = await exactMatch(read, from, keys, k, leaves.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES));
          if (k < 0) continue; // its equal-keyed twin is in the neighbouring range
        }
        if (positions[k]! < 0) {
          positions[k] = at + i;
          missing--;
        }
      }
    }
    if (missing > 0) throw new Error('a set leaf is not among the order leaves (a defect in aicert)');
    const bytes = Buffer.alloc(n * 8);
    for (let k = 0; k < n; k++) bytes.writeBigUInt64BE(BigInt(positions[k]!), k * 8);
    await emit(bytes);
  }
}

/** Among the set leaves of the range whose key is keys[k] (from k on), the one equal to `leaf`, or −1. */
async function exactMatch(
  read: LeafReader,
  from: number,
  keys: Float64Array,
  k: number,
  leaf: Buffer,
): Promise<number> {
  let end = k;
  while (end < keys.length && keys[end] === keys[k]) end++;
  const candidates = await read('setLeaves', from + k, end - k);
  for (let j = k; j < end; j++) {
    if (candidates.compare(leaf, 0, HASH_BYTES, (j - k) * HASH_BYTES, (j - k + 1) * HASH_BYTES) === 0) return j;
  }
  return -1;
}

function lowerBound(keys: Float64Array, key: number): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first 6 bytes of the leaf at `offset` as a number (exact: 48 bits). */
function leadingKey(leaves: Buffer, offset: number): number {
  return leaves.readUIntBE(offset, 6);
}
