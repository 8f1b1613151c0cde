import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { assertProperty } from '../../util/property.js';
import { InputError } from '../../../src/errors.js';
import {
  buildDatasetTrees,
  datasetCommitment,
  treeRoot,
  type DatasetTrees,
} from '../../../src/measure/dataset/dataset-tree.js';
import { parseDatasetProof, type DatasetProof } from '../../../src/measure/dataset/dataset-proof.js';
import { datasetRoot } from '../../../src/measure/dataset/dataset-root.js';
import {
  EMPTY_ROOT,
  inclusionPath,
  leafAt,
  leafCount,
  leafHash,
  merkleRoot,
  nodeHash,
  rootFromInclusionPath,
} from '../../../src/measure/dataset/merkle.js';
import { proveRecord } from '../../../src/measure/dataset/prove-record.js';
import { verifyDatasetProof } from '../../../src/measure/dataset/verify-proof.js';
import { scratchDir } from '../helpers.js';

const dir = scratchDir('proofs');
let fileCounter = 0;

/** Writes records as a text dataset (one per line) and builds its trees. */
async function treesOf(records: string[]): Promise<DatasetTrees> {
  const path = join(dir, `d${fileCounter++}.txt`);
  writeFileSync(path, records.map((r) => `${r}\n`).join(''));
  return buildDatasetTrees(path);
}

/** Parses (as check-proof does) and verifies; malformed counts as rejected. */
function accepts(proof: unknown, root: Buffer, record?: string): boolean {
  let parsed: DatasetProof;
  try {
    parsed = parseDatasetProof(JSON.parse(JSON.stringify(proof)));
  } catch (err) {
    assert.ok(err instanceof InputError, String(err));
    return false;
  }
  return verifyDatasetProof(parsed, root, record === undefined ? undefined : Buffer.from(record)).valid;
}

const flipHex = (hex: string, bit: number) => {
  const bytes = Buffer.from(hex, 'hex');
  bytes[(bit >> 3) % 32]! ^= 1 << (bit & 7);
  return bytes.toString('hex');
};

/** A genuine witness (leaf and audit path) of leaf `index` of the tree with these leaves. */
function witnessOf(leaves: Buffer, index: number) {
  return {
    index,
    leafHash: leafAt(leaves, index).toString('hex'),
    path: inclusionPath(leaves, index).map((h) => h.toString('hex')),
  };
}

/**
 * Every single-field alteration of a proof we can think of, each as a fresh object; for
 * non-inclusion proofs also neighbours replaced by *genuine* witnesses of other leaves, which
 * only the adjacency and order checks can catch.
 */
function alterations(proof: DatasetProof, bit: number, setLeaves: Buffer): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = [];
  const alter = (what: string, change: (p: any) => void) => {
    const copy = structuredClone(proof) as any;
    change(copy);
    if (JSON.stringify(copy) !== JSON.stringify(proof)) out.push([what, copy]);
  };
  const alterWitness = (key: string, get: (p: any) => any) => {
    alter(`${key}.index+1`, (p) => (get(p).index += 1));
    alter(`${key}.index-1`, (p) => (get(p).index -= 1));
    alter(`${key}.leafHash`, (p) => (get(p).leafHash = flipHex(get(p).leafHash, bit)));
    for (const i of get(proof).path.keys()) {
      alter(`${key}.path[${i}]`, (p) => (get(p).path[i] = flipHex(get(p).path[i], bit)));
    }
    alter(`${key}.path dropped`, (p) => get(p).path.pop());
    alter(`${key}.path extended`, (p) => get(p).path.push(randomBytes(32).toString('hex')));
    alter(`${key}.path reversed`, (p) => get(p).path.reverse());
  };
  alter('format', (p) => (p.format = 'other-proof'));
  alter('version', (p) => (p.version = 2));
  alter('treeHash', (p) => (p.treeHash = 'sha512-rfc6962'));
  alter('type', (p) => (p.type = p.type === 'inclusion' ? 'non-inclusion' : 'inclusion'));
  alter('tree', (p) => (p.tree = p.tree === 'set' ? 'order' : 'set'));
  alter('treeSize+1', (p) => (p.treeSize += 1));
  alter('treeSize-1', (p) => (p.treeSize -= 1));
  alter('treeSize*2', (p) => (p.treeSize *= 2));
  alter('leafHash', (p) => (p.leafHash = flipHex(p.leafHash, bit)));
  alter('extra field', (p) => (p.note = 'x'));
  if (proof.type === 'inclusion') {
    alterWitness('proof', (p) => p);
  } else {
    for (const side of ['left', 'right'] as const) {
      if (proof[side]) alterWitness(side, (p) => p[side]);
      alter(`${side} removed`, (p) => (p[side] = null));
    }
    alter('left/right swapped', (p) => ([p.left, p.right] = [p.right, p.left]));
    const size = leafCount(setLeaves);
    const { left, right } = proof;
    if (left && left.index > 0)
      alter('left → the leaf before it', (p) => (p.left = witnessOf(setLeaves, left.index - 1)));
    if (right && right.index + 1 < size)
      alter('right → the leaf after it', (p) => (p.right = witnessOf(setLeaves, right.index + 1)));
    if (left && right) {
      alter('left → the right leaf', (p) => (p.left = witnessOf(setLeaves, right.index)));
      alter('right → the left leaf', (p) => (p.right = witnessOf(setLeaves, left.index)));
    }
    if (!left && size > 1) alter('right → the second leaf', (p) => (p.right = witnessOf(setLeaves, 1)));
    if (!right && size > 1) alter('left → the second-to-last leaf', (p) => (p.left = witnessOf(setLeaves, size - 2)));
  }
  return out;
}

/** Whether a proof claims an inclusion that really holds in the dataset's trees. */
function isTrueInclusion(proof: any, trees: DatasetTrees): boolean {
  if (proof.type !== 'inclusion') return false;
  const leaves = proof.tree === 'set' ? trees.setLeaves : trees.orderLeaves;
  return (
    proof.treeSize === leafCount(leaves) &&
    proof.index < proof.treeSize &&
    leafAt(leaves, proof.index).toString('hex') === proof.leafHash
  );
}

// Records from a small alphabet, so datasets have duplicates and near misses.
const recordArb = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '{', '}', ' '), minLength: 1, maxLength: 4 });
const datasetArb = fc.array(recordArb, { maxLength: 30 });

describe('dataset proofs', () => {
  it('inclusion proofs verify for every record of a real dataset, in both trees', async () => {
    const records = ['{"t":"a"}', '{"t":"b"}', '{"t":"a"}', '{"t":"c"}', 'plain', '{"t":"d"}'];
    const trees = await treesOf(records);
    for (const record of records) {
      const inSet = proveRecord(trees, Buffer.from(record), 'set');
      const inOrder = proveRecord(trees, Buffer.from(record), 'order');
      assert.equal(inSet.type, 'inclusion');
      assert.equal(inOrder.type, 'inclusion');
      assert.ok(accepts(inSet, treeRoot(trees, 'set'), record));
      assert.ok(accepts(inOrder, treeRoot(trees, 'order'), record));
      // The first occurrence, at its position in the file.
      assert.equal(inOrder.type === 'inclusion' && inOrder.index, records.indexOf(record));
      // A proof in one tree says nothing about the other.
      assert.ok(!accepts(inSet, treeRoot(trees, 'order'), record));
      assert.ok(!accepts(inOrder, treeRoot(trees, 'set'), record));
    }
    assert.deepEqual(
      { records: datasetCommitment(trees).records, distinct: datasetCommitment(trees).distinctRecords },
      { records: 6, distinct: 5 },
    );
  });

  it('non-inclusion proofs verify for absent records, covering both edges and the middle', async () => {
    const trees = await treesOf(['r1', 'r2', 'r3', 'r4', 'r5']);
    const absent = Array.from({ length: 40 }, (_, i) => `absent-${i}`);
    const shapes = new Set<string>();
    for (const record of absent) {
      const proof = proveRecord(trees, Buffer.from(record));
      assert.equal(proof.type, 'non-inclusion');
      if (proof.type !== 'non-inclusion') continue;
      shapes.add(proof.left === null ? 'before-first' : proof.right === null ? 'after-last' : 'between');
      assert.ok(accepts(proof, treeRoot(trees, 'set'), record));
      assert.ok(
        !accepts(proof, treeRoot(trees, 'set'), 'r3'),
        'a non-inclusion proof must not speak for another record',
      );
    }
    assert.deepEqual([...shapes].sort(), ['after-last', 'before-first', 'between']);
  });

  it('an empty dataset proves every record absent against the empty set root', async () => {
    const trees = await treesOf([]);
    const proof = proveRecord(trees, Buffer.from('anything'));
    assert.deepEqual(
      { left: (proof as any).left, right: (proof as any).right, size: proof.treeSize },
      { left: null, right: null, size: 0 },
    );
    assert.ok(accepts(proof, treeRoot(trees, 'set'), 'anything'));
    assert.ok(!accepts(proof, randomBytes(32), 'anything'));
    assert.deepEqual(treeRoot(trees, 'set'), datasetRoot('set', 0, EMPTY_ROOT));
  });

  it('random datasets: proofs verify for real records and fail for another record, another root, or any altered field (property)', async () => {
    await assertProperty(
      fc.asyncProperty(
        datasetArb,
        recordArb,
        fc.nat(255),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        async (records, probe, bit, otherRootBytes) => {
          const trees = await treesOf(records);
          const otherRoot = Buffer.from(otherRootBytes);
          const candidates = [...new Set([...records.slice(0, 3), probe])];
          for (const record of candidates) {
            for (const tree of ['set', 'order'] as const) {
              const proof = proveRecord(trees, Buffer.from(record), tree);
              const root = treeRoot(trees, proof.tree);
              assert.equal(proof.type === 'inclusion', records.includes(record));
              assert.ok(accepts(proof, root, record), 'genuine proof');
              assert.ok(!accepts(proof, otherRoot, record), 'another root');
              const other = record === 'zzzz' ? 'yyyy' : 'zzzz';
              assert.ok(!accepts(proof, root, other), 'another record');
              for (const [what, altered] of alterations(proof, bit, trees.setLeaves)) {
                // Moving an order-tree index onto another occurrence of the same record is still true.
                assert.ok(
                  !accepts(altered, root, record) || isTrueInclusion(altered, trees),
                  `altered ${what} still verifies`,
                );
              }
            }
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('rejects a non-inclusion forgery that passes inner nodes off as leaves of a smaller tree', async () => {
    // With a bare RFC 6962 root the claim "tree of 2 leaves [N(a,b), N(c,d)]" verifies against a
    // 4-leaf tree, and brackets b when N(a,b) < b < N(c,d). The published root binds the size.
    for (let attempt = 0; ; attempt++) {
      const records = [0, 1, 2, 3].map((i) => `record-${attempt}-${i}`);
      const trees = await treesOf(records);
      const leaves = [0, 1, 2, 3].map((i) => trees.setLeaves.subarray(i * 32, i * 32 + 32));
      const [a, b, c, d] = leaves as [Buffer, Buffer, Buffer, Buffer];
      const left = nodeHash(a, b);
      const right = nodeHash(c, d);
      if (!(Buffer.compare(left, b) < 0 && Buffer.compare(b, right) < 0)) continue;
      const forged = {
        format: 'aicert-dataset-proof',
        version: 1,
        type: 'non-inclusion',
        tree: 'set',
        treeHash: 'sha256-rfc6962',
        treeSize: 2,
        leafHash: b.toString('hex'),
        left: { index: 0, leafHash: left.toString('hex'), path: [right.toString('hex')] },
        right: { index: 1, leafHash: right.toString('hex'), path: [left.toString('hex')] },
      };
      // The attack works against the bare Merkle tree hash...
      assert.deepEqual(rootFromInclusionPath(0, 2, left, [right]), merkleRoot(trees.setLeaves));
      // ...and fails against the published root.
      const member = records.find((r) => leafHash(Buffer.from(r)).equals(b))!;
      assert.ok(!accepts(forged, treeRoot(trees, 'set'), member));
      assert.ok(!accepts(forged, treeRoot(trees, 'set')));
      return;
    }
  });

  it('refuses malformed proofs before verifying: unbounded paths, indexes past the size, bad hex, unknown fields', () => {
    const hash = 'ab'.repeat(32);
    const base = {
      format: 'aicert-dataset-proof',
      version: 1,
      type: 'inclusion',
      tree: 'set',
      treeHash: 'sha256-rfc6962',
      treeSize: 4,
      index: 1,
      leafHash: hash,
      path: [hash, hash],
    };
    assert.doesNotThrow(() => parseDatasetProof(base));
    for (const bad of [
      { ...base, path: Array.from({ length: 65 }, () => hash) },
      { ...base, index: 4 },
      { ...base, index: -1 },
      { ...base, index: 1.5 },
      { ...base, treeSize: 2 ** 60 },
      { ...base, leafHash: hash.toUpperCase() },
      { ...base, leafHash: hash.slice(2) },
      { ...base, path: [hash, 'zz'.repeat(32)] },
      { ...base, extra: true },
      { ...base, type: 'non-inclusion' },
      {
        ...base,
        type: 'non-inclusion',
        tree: 'order',
        leafHash: hash,
        left: null,
        right: null,
        index: undefined,
        path: undefined,
      },
      null,
      [],
      'proof',
    ]) {
      assert.throws(
        () => parseDatasetProof(JSON.parse(JSON.stringify(bad))),
        (e: unknown) => e instanceof InputError && e.code === 'proof.malformed',
      );
    }
  });
});
