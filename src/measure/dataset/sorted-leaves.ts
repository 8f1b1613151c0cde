import { HASH_BYTES, leafAt, leafCount } from './merkle.js';

/**
 * The set commitment's leaves: the distinct leaf hashes in ascending byte order. A record that
 * occurs several times in the file is one leaf here, so the sorted tree commits to the *set* of
 * records, and every leaf is strictly greater than its left neighbour, which is what makes a
 * non-inclusion proof (two adjacent leaves bracketing the target) sound.
 */
export function sortedDistinctLeaves(leaves: Buffer): Buffer {
  const count = leafCount(leaves);
  // Sorting by the first 6 bytes as an exact float key (48 bits) settles nearly every comparison
  // without calling into Buffer.compare; equal prefixes fall back to the full 32 bytes.
  const prefix = new Float64Array(count);
  for (let i = 0; i < count; i++) prefix[i] = leaves.readUIntBE(i * HASH_BYTES, 6);
  const order = Array.from({ length: count }, (_, i) => i);
  // buf.compare(target, …, source, …) orders the source range against the target range.
  order.sort(
    (a, b) =>
      prefix[a]! - prefix[b]! ||
      leaves.compare(leaves, b * HASH_BYTES, (b + 1) * HASH_BYTES, a * HASH_BYTES, (a + 1) * HASH_BYTES),
  );
  const sorted = Buffer.allocUnsafe(count * HASH_BYTES);
  let distinct = 0;
  for (const i of order) {
    const leaf = leafAt(leaves, i);
    if (distinct > 0 && leafAt(sorted, distinct - 1).equals(leaf)) continue;
    leaf.copy(sorted, distinct * HASH_BYTES);
    distinct++;
  }
  return sorted.subarray(0, distinct * HASH_BYTES);
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
