import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { assertProperty, reproduceHint, seededBytes } from '../../util/property.js';
import {
  EMPTY_ROOT,
  inclusionPath,
  inclusionPathLength,
  leafHash,
  merkleRoot,
  nodeHash,
  rootFromInclusionPath,
  WorkBuffer,
} from '../../../src/measure/dataset/merkle.js';
import { lowerBound, sortDistinctInPlace, sortedDistinctLeaves } from '../../../src/measure/dataset/sorted-leaves.js';

// The straightforward recursive definitions of RFC 6962 §2.1, written independently of merkle.ts.
const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const part of parts) h.update(part);
  return h.digest();
};
function referenceRoot(records: Buffer[]): Buffer {
  if (records.length === 0) return sha256();
  if (records.length === 1) return sha256(Buffer.from([0]), records[0]!);
  let k = 1;
  while (k * 2 < records.length) k *= 2;
  return sha256(Buffer.from([1]), referenceRoot(records.slice(0, k)), referenceRoot(records.slice(k)));
}
function referencePath(m: number, records: Buffer[]): Buffer[] {
  if (records.length <= 1) return [];
  let k = 1;
  while (k * 2 < records.length) k *= 2;
  return m < k
    ? [...referencePath(m, records.slice(0, k)), referenceRoot(records.slice(k))]
    : [...referencePath(m - k, records.slice(k)), referenceRoot(records.slice(0, k))];
}
const leavesOf = (records: Buffer[]) => Buffer.concat(records.map((r) => leafHash(r)));

describe('RFC 6962 Merkle tree', () => {
  it('matches the recursive definition for every size 0..20, root and every audit path', () => {
    for (let n = 0; n <= 20; n++) {
      const records = Array.from({ length: n }, (_, i) => seededBytes(i % 5, `merkle records of ${n}`, i));
      const leaves = leavesOf(records);
      assert.deepEqual(merkleRoot(leaves), referenceRoot(records), `root of ${n} leaves; ${reproduceHint()}`);
      for (let m = 0; m < n; m++) {
        const path = inclusionPath(leaves, m);
        assert.deepEqual(path, referencePath(m, records), `path of leaf ${m} of ${n}; ${reproduceHint()}`);
        assert.equal(inclusionPathLength(m, n), path.length);
        assert.deepEqual(
          rootFromInclusionPath(m, n, leafHash(records[m]!), path),
          referenceRoot(records),
          `root from the path of leaf ${m} of ${n}; ${reproduceHint()}`,
        );
      }
    }
  });

  it('reproduces the Certificate Transparency reference roots for the 8 standard test leaves', () => {
    const inputs = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
    const roots = [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
      'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
      '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
      'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
      '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
    ];
    const records = inputs.map((hex) => Buffer.from(hex, 'hex'));
    for (const [i, root] of roots.entries()) {
      assert.equal(merkleRoot(leavesOf(records.slice(0, i + 1))).toString('hex'), root);
    }
    assert.equal(EMPTY_ROOT.toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('separates leaves from nodes: a leaf over 64 bytes is not the node over the same bytes', () => {
    const a = randomBytes(32);
    const b = randomBytes(32);
    assert.notDeepEqual(leafHash(Buffer.concat([a, b])), nodeHash(a, b));
  });

  it('rejects audit paths of the wrong length or for an index outside the tree', () => {
    const records = Array.from({ length: 7 }, (_, i) => Buffer.from([i]));
    const leaves = leavesOf(records);
    const path = inclusionPath(leaves, 3);
    const leaf = leafHash(records[3]!);
    assert.equal(rootFromInclusionPath(3, 7, leaf, path.slice(1)), undefined);
    assert.equal(rootFromInclusionPath(3, 7, leaf, [...path, path[0]!]), undefined);
    assert.equal(rootFromInclusionPath(7, 7, leaf, path), undefined);
    assert.throws(() => inclusionPath(leaves, 7), RangeError);
  });

  it('verifies every leaf of random trees and no flipped bit of leaf or path (property)', () => {
    assertProperty(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 8 }), { minLength: 1, maxLength: 40 }),
        fc.nat(),
        fc.nat(255),
        (arrays, pick, bit) => {
          const records = arrays.map((a) => Buffer.from(a));
          const leaves = leavesOf(records);
          const root = merkleRoot(leaves);
          const m = pick % records.length;
          const path = inclusionPath(leaves, m);
          const leaf = leafHash(records[m]!);
          assert.deepEqual(rootFromInclusionPath(m, records.length, leaf, path), root);
          const flippedLeaf = Buffer.from(leaf);
          flippedLeaf[bit >> 3]! ^= 1 << (bit & 7);
          assert.notDeepEqual(rootFromInclusionPath(m, records.length, flippedLeaf, path), root);
          if (path.length > 0) {
            const tampered = path.map((p) => Buffer.from(p));
            tampered[pick % path.length]![bit >> 3]! ^= 1 << (bit & 7);
            assert.notDeepEqual(rootFromInclusionPath(m, records.length, leaf, tampered), root);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('handles indexes and sizes above 2^32 without bit-shift overflow', () => {
    // For the last leaf of a tree of 2^40 + 1 leaves, the path is one sibling: the left 2^40 subtree.
    const size = 2 ** 40 + 1;
    assert.equal(inclusionPathLength(size - 1, size), 1);
    const leaf = randomBytes(32);
    const sibling = randomBytes(32);
    assert.deepEqual(rootFromInclusionPath(size - 1, size, leaf, [sibling]), nodeHash(sibling, leaf));
  });
});

describe('sorted distinct leaves', () => {
  it('sorts by bytes, drops duplicates, and lowerBound finds members and gaps (property)', () => {
    assertProperty(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 60 }),
        fc.nat(),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (hashes, pick, probeBytes) => {
          // Reuse some hashes so duplicates occur; share the first 6 bytes of others to hit the tie-break.
          const withDuplicates = hashes.flatMap((h, i) => (i % 3 === 0 ? [h, h] : [h]));
          const sharedPrefix = hashes.map((h, i) =>
            i % 4 === 1 ? Buffer.concat([Buffer.alloc(6), h.subarray(6)]) : h,
          );
          for (const input of [withDuplicates, sharedPrefix]) {
            const sorted = sortedDistinctLeaves(Buffer.concat(input.map((h) => Buffer.from(h))));
            const expected = [...new Set(input.map((h) => Buffer.from(h).toString('hex')))].sort();
            const actual = Array.from({ length: sorted.length / 32 }, (_, i) =>
              sorted.subarray(i * 32, i * 32 + 32).toString('hex'),
            );
            assert.deepEqual(actual, expected);
            if (expected.length > 0) {
              const member = Buffer.from(expected[pick % expected.length]!, 'hex');
              assert.equal(lowerBound(sorted, member), pick % expected.length);
            }
            const probe = Buffer.from(probeBytes);
            const position = lowerBound(sorted, probe);
            assert.equal(position, expected.filter((h) => h < probe.toString('hex')).length);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('in place, unaligned, with a reused work buffer: thousands of leaves in every first-byte range (property)', () => {
    const work = new WorkBuffer();
    assertProperty(
      fc.property(fc.integer({ min: 0, max: 3000 }), fc.nat(), fc.integer({ min: 0, max: 3 }), (count, seed, skew) => {
        // Leaves with duplicates far apart and, for some, the same first 4 bytes (ties on the radix key).
        const base = seededBytes(count * 32, 'set leaves', seed);
        for (let i = 0; i < count; i++) {
          if (i % 7 === 3) base.copy(base, i * 32, ((i * 13) % (i + 1)) * 32, ((i * 13) % (i + 1)) * 32 + 32);
          if (i % 5 === 1) base.writeUInt32BE(0xabcd0123, i * 32);
        }
        const expected = [
          ...new Set(Array.from({ length: count }, (_, i) => base.toString('hex', i * 32, i * 32 + 32))),
        ]
          .sort()
          .join('');
        // The leaves `skew` bytes into their buffer: the word-at-a-time copies must not assume alignment.
        const holder = Buffer.alloc(skew + count * 32);
        base.copy(holder, skew);
        const leaves = holder.subarray(skew);
        const order = Buffer.from(leaves);
        const distinct = sortDistinctInPlace(leaves, work);
        assert.equal(leaves.toString('hex', 0, distinct * 32), expected);
        // The same work buffer, left dirty by the sort, gives the same tree root as a fresh one.
        assert.deepEqual(merkleRoot(order, work), merkleRoot(order));
      }),
      { numRuns: 40 },
    );
  });
});
