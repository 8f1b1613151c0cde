import { HASH_BYTES, leafAt, leafCount } from './merkle.js';

/**
 * The set commitment's leaves: the distinct leaf hashes in ascending byte order. A record that
 * occurs several times in the file is one leaf here, so the sorted tree commits to the *set* of
 * records, and every leaf is strictly greater than its left neighbour, which is what makes a
 * non-inclusion proof (two adjacent leaves bracketing the target) sound.
 */
export function sortedDistinctLeaves(leaves: Buffer): Buffer {
  const count = leafCount(leaves);
  // Each leaf becomes one number: its leading bits, then its index, exact in a double (53 bits),
  // so a native typed-array sort (no comparator calls) orders nearly everything by hash. Leaves
  // whose leading bits tie are then ordered by all 32 bytes; duplicates always tie.
  const indexBits = Math.max(1, Math.ceil(Math.log2(count + 1)));
  const prefixBits = Math.min(48, 53 - indexBits);
  const indexScale = 2 ** indexBits;
  const prefixScale = 2 ** (48 - prefixBits);
  const keys = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    keys[i] = Math.floor(leadingBits(leaves, i * HASH_BYTES) / prefixScale) * indexScale + i;
  }
  keys.sort();
  const sorted = Buffer.allocUnsafe(count * HASH_BYTES);
  let distinct = 0;
  const emit = (index: number) => {
    const leaf = leafAt(leaves, index);
    if (distinct > 0 && leafAt(sorted, distinct - 1).equals(leaf)) return;
    leaf.copy(sorted, distinct * HASH_BYTES);
    distinct++;
  };
  const compareLeaves = (a: number, b: number) =>
    leaves.compare(leaves, b * HASH_BYTES, (b + 1) * HASH_BYTES, a * HASH_BYTES, (a + 1) * HASH_BYTES);
  for (let i = 0; i < count; ) {
    const prefix = Math.floor(keys[i]! / indexScale);
    let j = i + 1;
    while (j < count && Math.floor(keys[j]! / indexScale) === prefix) j++;
    if (j === i + 1) {
      // A leading-bits prefix of its own: no neighbour can equal it. Copied byte by byte here,
      // cheaper than a native call per leaf.
      const from = (keys[i]! % indexScale) * HASH_BYTES;
      const to = distinct * HASH_BYTES;
      for (let k = 0; k < HASH_BYTES; k++) sorted[to + k] = leaves[from + k]!;
      distinct++;
    } else {
      const tied: number[] = [];
      for (let k = i; k < j; k++) tied.push(keys[k]! % indexScale);
      tied.sort(compareLeaves);
      for (const index of tied) emit(index);
    }
    i = j;
  }
  return sorted.subarray(0, distinct * HASH_BYTES);
}

/** The first 6 bytes of the leaf at `offset` as a big-endian integer (48 bits, exact). */
function leadingBits(leaves: Buffer, offset: number): number {
  return (
    leaves[offset]! * 2 ** 40 +
    leaves[offset + 1]! * 2 ** 32 +
    leaves[offset + 2]! * 2 ** 24 +
    leaves[offset + 3]! * 2 ** 16 +
    leaves[offset + 4]! * 2 ** 8 +
    leaves[offset + 5]!
  );
}

/** The first index whose leaf is ≥ target in sorted leaves (= leaf count when none is). */
export function lowerBound(sorted: Buffer, target: Uint8Array): number {
  let lo = 0;
  let hi = leafCount(sorted);
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (Buffer.compare(leafAt(sorted, mid), target) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
