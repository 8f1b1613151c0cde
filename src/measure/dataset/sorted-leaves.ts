import { HASH_BYTES, leafAt, leafCount, WorkBuffer } from './merkle.js';

/** Bits of the leading 32-bit key sorted per counting pass: 3 passes cover 32 bits. */
const RADIX_BITS = 11;
/** 32-bit words in a leaf. */
const WORDS = HASH_BYTES / 4;

/**
 * The set commitment's leaves: the distinct leaf hashes in ascending byte order. A record that
 * occurs several times in the file is one leaf here, so the sorted tree commits to the *set* of
 * records, and every leaf is strictly greater than its left neighbour, which is what makes a
 * non-inclusion proof (two adjacent leaves bracketing the target) sound.
 */
export function sortedDistinctLeaves(leaves: Buffer): Buffer {
  const copy = Buffer.from(leaves);
  return copy.subarray(0, sortDistinctInPlace(copy) * HASH_BYTES);
}

/**
 * Sorts `leaves` in place into the distinct leaves of `sortedDistinctLeaves`, first; returns how
 * many there are (the rest of the buffer is left over). `scratch`, kept across calls, spares the
 * page faults of fresh memory (merkle.ts, WorkBuffer).
 *
 * Each leaf's first 4 bytes, big-endian, are its key. The leaves are first spread by their first
 * byte into the scratch buffer (one sequential pass); then each such range, small enough to stay
 * in cache, is ordered by an LSD radix sort of (key, index) pairs in typed arrays and gathered
 * back: a few linear passes and no comparator calls (a comparison sort cost several times as
 * much, and a gather from all the leaves at once waits on memory for every leaf). Leaves whose
 * keys tie are then ordered by all 32 bytes; equal leaves always tie, and are dropped. Each step
 * is a function of its own over typed arrays, so that the compiler optimizes it early.
 */
export function sortDistinctInPlace(leaves: Buffer, scratch: WorkBuffer = new WorkBuffer()): number {
  const count = leafCount(leaves);
  const spread = scratch.take(count * HASH_BYTES);
  const starts = spreadByFirstByte(leaves, count, spread);
  let largest = 0;
  for (let b = 0; b < 256; b++) largest = Math.max(largest, starts[b + 1]! - starts[b]!);
  const keys = new Uint32Array(largest);
  const order = new Uint32Array(largest);
  const keysOut = new Uint32Array(largest);
  const orderOut = new Uint32Array(largest);
  const counts = new Uint32Array(1 << RADIX_BITS);
  let distinct = 0;
  for (let b = 0; b < 256; b++) {
    const from = starts[b]!;
    const size = starts[b + 1]! - from;
    if (size < 1) continue;
    const range = spread.subarray(from * HASH_BYTES, (from + size) * HASH_BYTES);
    readKeys(range, size, keys, order);
    // Three passes of 11, 11 and 10 bits: the result ends in keysOut and orderOut.
    radixPass(keys, order, keysOut, orderOut, counts, size, 0);
    radixPass(keysOut, orderOut, keys, order, counts, size, RADIX_BITS);
    radixPass(keys, order, keysOut, orderOut, counts, size, 2 * RADIX_BITS);
    // Earlier ranges were compacted below `from`: this one's place is free.
    const place = leaves.subarray(from * HASH_BYTES, (from + size) * HASH_BYTES);
    gather(range, orderOut, place, size);
    sortTies(place, keysOut, size);
    distinct = keepDistinct(leaves, from, keysOut, size, distinct);
  }
  return distinct;
}

/** Copies the leaves into `spread` grouped by their first byte; returns where each group starts (257 entries). */
function spreadByFirstByte(leaves: Buffer, count: number, spread: Buffer): Uint32Array {
  const starts = new Uint32Array(257);
  for (let i = 0; i < count; i++) starts[leaves[i * HASH_BYTES]! + 1]!++;
  for (let b = 0; b < 256; b++) starts[b + 1]! += starts[b]!;
  const next = starts.slice(0, 256);
  if (leaves.byteOffset % 4 === 0 && spread.byteOffset % 4 === 0) {
    const from = new Int32Array(leaves.buffer, leaves.byteOffset, count * WORDS);
    const to = new Int32Array(spread.buffer, spread.byteOffset, count * WORDS);
    for (let i = 0; i < count; i++) {
      const at = next[leaves[i * HASH_BYTES]!]!++ * WORDS;
      for (let k = 0; k < WORDS; k++) to[at + k] = from[i * WORDS + k]!;
    }
  } else {
    for (let i = 0; i < count; i++) {
      const at = next[leaves[i * HASH_BYTES]!]!++ * HASH_BYTES;
      for (let k = 0; k < HASH_BYTES; k++) spread[at + k] = leaves[i * HASH_BYTES + k]!;
    }
  }
  return starts;
}

/** keys[i] = the leading 32 bits of leaf i, and order[i] = i, for i < size. */
function readKeys(leaves: Buffer, size: number, keys: Uint32Array, order: Uint32Array): void {
  for (let i = 0; i < size; i++) {
    const at = i * HASH_BYTES;
    keys[i] = ((leaves[at]! << 24) | (leaves[at + 1]! << 16) | (leaves[at + 2]! << 8) | leaves[at + 3]!) >>> 0;
    order[i] = i;
  }
}

/** One stable counting pass over the first `size` pairs on the key bits from `shift` up. */
function radixPass(
  keys: Uint32Array,
  order: Uint32Array,
  keysOut: Uint32Array,
  orderOut: Uint32Array,
  counts: Uint32Array,
  size: number,
  shift: number,
): void {
  const mask = (1 << RADIX_BITS) - 1;
  counts.fill(0);
  for (let i = 0; i < size; i++) counts[(keys[i]! >>> shift) & mask]!++;
  let sum = 0;
  for (let b = 0; b < counts.length; b++) {
    const c = counts[b]!;
    counts[b] = sum;
    sum += c;
  }
  for (let i = 0; i < size; i++) {
    const key = keys[i]!;
    const at = counts[(key >>> shift) & mask]!++;
    keysOut[at] = key;
    orderOut[at] = order[i]!;
  }
}

/** sorted[i] = leaves[order[i]] for i < size; a word (or a byte) at a time, no native call per leaf. */
function gather(leaves: Buffer, order: Uint32Array, sorted: Buffer, size: number): void {
  if (leaves.byteOffset % 4 === 0 && sorted.byteOffset % 4 === 0) {
    const source = new Int32Array(leaves.buffer, leaves.byteOffset, size * WORDS);
    const target = new Int32Array(sorted.buffer, sorted.byteOffset, size * WORDS);
    for (let i = 0; i < size; i++) {
      const at = order[i]! * WORDS;
      for (let k = 0; k < WORDS; k++) target[i * WORDS + k] = source[at + k]!;
    }
  } else {
    for (let i = 0; i < size; i++) {
      const at = order[i]! * HASH_BYTES;
      for (let k = 0; k < HASH_BYTES; k++) sorted[i * HASH_BYTES + k] = leaves[at + k]!;
    }
  }
}

/** Orders each group of leaves whose keys tie (rare past a few thousand leaves) by all 32 bytes. */
function sortTies(sorted: Buffer, keys: Uint32Array, size: number): void {
  for (let i = 0; i < size; ) {
    let j = i + 1;
    while (j < size && keys[j] === keys[i]) j++;
    if (j > i + 1) {
      const group = Array.from({ length: j - i }, (_, k) => Buffer.from(leafAt(sorted, i + k)));
      group.sort(Buffer.compare);
      for (let k = 0; k < group.length; k++) group[k]!.copy(sorted, (i + k) * HASH_BYTES);
    }
    i = j;
  }
}

/**
 * Moves the sorted range of `size` leaves at index `from` down to index `distinct`, dropping each
 * leaf equal to the one kept before it (equal leaves have equal keys); returns the new count.
 */
function keepDistinct(leaves: Buffer, from: number, keys: Uint32Array, size: number, distinct: number): number {
  let kept = distinct;
  for (let i = 0; i < size; i++) {
    const at = (from + i) * HASH_BYTES;
    const duplicate =
      i > 0 &&
      keys[i] === keys[i - 1] &&
      leaves.compare(leaves, (kept - 1) * HASH_BYTES, kept * HASH_BYTES, at, at + HASH_BYTES) === 0;
    if (duplicate) continue;
    if (kept !== from + i) leaves.copy(leaves, kept * HASH_BYTES, at, at + HASH_BYTES);
    kept++;
  }
  return kept;
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
