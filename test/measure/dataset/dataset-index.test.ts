/**
 * The dataset index (`aicert data index`, `data prove --index`): a proof from the index is the
 * proof a full rebuild gives, it checks against the root alone, and an index that no longer
 * matches its dataset, or whose bytes were edited, is refused (docs/datasets.md, "Proofs at scale").
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync, renameSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import type { AicertError } from '../../../src/errors.js';
import {
  DatasetIndex,
  type IndexHeader,
  indexLayout,
  indexTail,
  TRAILER_BYTES,
} from '../../../src/measure/dataset/dataset-index.js';
import { parseDatasetProof } from '../../../src/measure/dataset/dataset-proof.js';
import type { TreeKind } from '../../../src/measure/dataset/dataset-root.js';
import { buildDatasetTrees, datasetCommitment, type DatasetTrees } from '../../../src/measure/dataset/dataset-tree.js';
import { writeDatasetIndex } from '../../../src/measure/dataset/index-build.js';
import { writeOrderPositions } from '../../../src/measure/dataset/index-positions.js';
import { checkIndexCurrent, proveRecordFromIndex } from '../../../src/measure/dataset/index-prove.js';
import { HASH_BYTES } from '../../../src/measure/dataset/merkle.js';
import { proveRecord } from '../../../src/measure/dataset/prove-record.js';
import { RecordPool } from '../../../src/measure/dataset/record-pool.js';
import { sortedDistinctLeaves } from '../../../src/measure/dataset/sorted-leaves.js';
import { verifyDatasetProof } from '../../../src/measure/dataset/verify-proof.js';
import { assertProperty } from '../../util/property.js';
import { runCli, scratchDir } from '../helpers.js';

const dir = scratchDir('dataset-index');
const pool = new RecordPool({ workers: 2 });
after(() => pool.close());
// Blocks of 4 leaves and small sort runs: a few hundred records take many blocks, a partial last
// block, spilled runs and the merge.
const tuning = { chunkBytes: 256, blockLeaves: 4, sort: { runLeaves: 8, memoryLeaves: 16 } };

/** 203 records (a partial last block); every seventh repeats the record three before it. */
const RECORDS: string[] = [];
for (let i = 0; i < 203; i++) RECORDS.push(i % 7 === 6 ? RECORDS[i - 3]! : JSON.stringify({ id: i, text: `r${i}` }));

let cases = 0;
function writeJsonl(records: string[]): string {
  const path = join(dir, `case-${cases++}.jsonl`);
  writeFileSync(path, records.map((r) => `${r}\n`).join(''));
  return path;
}

async function indexOf(dataset: string): Promise<string> {
  const out = `${dataset}.aicert-index`;
  await writeDatasetIndex(dataset, out, { pool, tuning });
  return out;
}

async function withIndex<T>(path: string, use: (index: DatasetIndex) => Promise<T>): Promise<T> {
  const index = await DatasetIndex.open(path);
  try {
    return await use(index);
  } finally {
    await index.close();
  }
}

/** Proofs from the index equal those of the rebuilt trees, and check against the root alone. */
async function assertSameProofs(index: DatasetIndex, trees: DatasetTrees, records: string[]): Promise<void> {
  const { orderRoot, setRoot } = datasetCommitment(trees);
  for (const record of records) {
    for (const tree of ['set', 'order'] as TreeKind[]) {
      const bytes = Buffer.from(record);
      const fromIndex = await proveRecordFromIndex(index, bytes, tree);
      assert.deepEqual(fromIndex, proveRecord(trees, bytes, tree), `${tree} proof of ${record}`);
      const root = Buffer.from(fromIndex.tree === 'order' ? orderRoot : setRoot, 'hex');
      const verdict = verifyDatasetProof(parseDatasetProof(JSON.parse(JSON.stringify(fromIndex))), root, bytes);
      assert.equal(verdict.valid, true, `${tree} proof of ${record} checks against the root`);
    }
  }
}

describe('dataset index', () => {
  it('a proof from the index equals the rebuilt proof for the first, middle and last records, and absent ones', async () => {
    const dataset = writeJsonl(RECORDS);
    const trees = await buildDatasetTrees(dataset);
    const header = await withIndex(await indexOf(dataset), async (index) => {
      await checkIndexCurrent(index, dataset);
      await assertSameProofs(index, trees, [
        RECORDS[0]!,
        RECORDS[101]!,
        RECORDS.at(-1)!,
        RECORDS[6]!, // a repeat: its order proof is for the first occurrence
        '{"absent":true}',
        '{"absent":2}',
      ]);
      return index.header;
    });
    const commitment = datasetCommitment(trees);
    assert.equal(header.dataset.orderRoot, commitment.orderRoot);
    assert.equal(header.dataset.setRoot, commitment.setRoot);
    assert.equal(header.dataset.records, RECORDS.length);
    assert.equal(header.dataset.distinctRecords, commitment.distinctRecords);
  });

  it('every record of a small dataset, and the set tree edges, prove alike from the index', async () => {
    const records = RECORDS.slice(0, 37);
    const dataset = writeJsonl(records);
    const trees = await buildDatasetTrees(dataset);
    await withIndex(await indexOf(dataset), (index) => assertSameProofs(index, trees, [...records, '0', '1', '"x"']));
  });

  it('an empty dataset has an index whose non-inclusion proof checks against the empty set root', async () => {
    const dataset = writeJsonl([]);
    const trees = await buildDatasetTrees(dataset);
    await withIndex(await indexOf(dataset), (index) => assertSameProofs(index, trees, ['{"a":1}']));
  });

  it('a sharded dataset: a record in the last shard proves from the index as from the rebuild', async () => {
    const shards = join(dir, 'shards');
    mkdirSync(shards);
    const whole = join(dir, 'shards-whole.jsonl');
    for (let i = 0; i < 5; i++) {
      writeFileSync(
        join(shards, `train-${i}.jsonl`),
        RECORDS.slice(i * 40, i * 40 + 40)
          .map((r) => `${r}\n`)
          .join(''),
      );
    }
    writeFileSync(
      whole,
      RECORDS.slice(0, 200)
        .map((r) => `${r}\n`)
        .join(''),
    );
    const trees = await buildDatasetTrees(whole);
    await withIndex(await indexOf(shards), async (index) => {
      assert.equal(index.header.dataset.shards, 5);
      await checkIndexCurrent(index, shards);
      await assertSameProofs(index, trees, [RECORDS[199]!, RECORDS[160]!]);
    });
    appendFileSync(join(shards, 'train-4.jsonl'), '{"late":1}\n');
    await withIndex(join(dir, 'shards.aicert-index'), (index) =>
      assert.rejects(checkIndexCurrent(index, shards), { code: 'dataset.index-stale' }),
    );
  });

  it('an index of data that changed since is refused as stale, and of another dataset too', async () => {
    const dataset = writeJsonl(RECORDS);
    const path = await indexOf(dataset);
    const other = writeJsonl(RECORDS);
    await withIndex(path, (index) => assert.rejects(checkIndexCurrent(index, other), { code: 'dataset.index-stale' }));
    // Same size, same bytes even: a rewrite moves mtime and ctime.
    writeFileSync(dataset, readFileSync(dataset));
    await withIndex(path, (index) =>
      assert.rejects(checkIndexCurrent(index, dataset), { code: 'dataset.index-stale' }),
    );
  });

  it('an edited leaf section gives dataset.index-corrupt, never a proof', async () => {
    const dataset = writeJsonl(RECORDS);
    const path = await indexOf(dataset);
    const record = Buffer.from(RECORDS[50]!);
    const proof = await withIndex(path, (index) => proveRecordFromIndex(index, record, 'set'));
    assert.equal(proof.type, 'inclusion');
    const bytes = readFileSync(path);
    const header = await withIndex(path, async (index) => index.header);
    const { sections } = indexLayout(header);
    for (const [section, leaf] of [
      ['setLeaves', proof.type === 'inclusion' ? proof.index : 0],
      ['orderLeaves', 50],
    ] as const) {
      const edited = Buffer.from(bytes);
      edited[sections[section].offset + leaf * HASH_BYTES + 31]! ^= 1;
      writeFileSync(path, edited);
      const tree: TreeKind = section === 'setLeaves' ? 'set' : 'order';
      await withIndex(path, (index) =>
        assert.rejects(proveRecordFromIndex(index, record, tree), (err: AicertError) => {
          assert.equal(err.code, 'dataset.index-corrupt', err.message);
          return true;
        }),
      );
    }
  });

  it('an edited header, a truncated file or a file that is not an index is dataset.index-malformed', async () => {
    const dataset = writeJsonl(RECORDS);
    const path = await indexOf(dataset);
    const bytes = readFileSync(path);
    const size = statSync(path).size;
    const headerEdit = Buffer.from(bytes);
    const at = headerEdit.lastIndexOf(Buffer.from('"records":'));
    headerEdit[at + 10] = headerEdit[at + 10] === 0x31 ? 0x32 : 0x31;
    const cases: Array<[string, Buffer]> = [
      ['edited header', headerEdit],
      ['not an index', Buffer.from('{"text":"hello"}\n')],
      ['empty', Buffer.alloc(0)],
    ];
    for (const [what, content] of cases) {
      writeFileSync(path, content);
      await assert.rejects(DatasetIndex.open(path), { code: 'dataset.index-malformed' }, what);
    }
    writeFileSync(path, bytes);
    truncateSync(path, size - 45);
    await assert.rejects(DatasetIndex.open(path), { code: 'dataset.index-malformed' }, 'truncated');
    // Leaves cut off the front: the trailer and header are intact, the size no longer adds up.
    writeFileSync(path, bytes.subarray(HASH_BYTES));
    await assert.rejects(DatasetIndex.open(path), { code: 'dataset.index-malformed' }, 'one leaf short');
  });

  it('a header (its checksum redone) whose blocks a proof could not read in bounded memory is refused as such', async () => {
    const path = await indexOf(writeJsonl(RECORDS));
    const bytes = readFileSync(path);
    const length = bytes.readUInt32BE(bytes.length - TRAILER_BYTES);
    const headerAt = bytes.length - TRAILER_BYTES - length;
    const header = JSON.parse(bytes.subarray(headerAt, headerAt + length).toString('utf8')) as IndexHeader;
    // A proof reads one whole block of leaves and every block root: each claim is refused from the
    // header alone, before the size check (which a file of the implied size would pass).
    const claims: Array<[string, (h: IndexHeader) => void, RegExp]> = [
      ['blocks of 2^21 leaves', (h) => Object.assign(h, { blockLeaves: 2 ** 21 }), /at blockLeaves: Too big/],
      [
        '2^20 + 1 full blocks',
        (h) => Object.assign(h.dataset, { records: (2 ** 20 + 1) * h.blockLeaves }),
        /more than 1048576 blocks of leaves/,
      ],
    ];
    for (const [what, edit, message] of claims) {
      const edited = structuredClone(header);
      edit(edited);
      writeFileSync(path, Buffer.concat([bytes.subarray(0, headerAt), indexTail(edited)]));
      await assert.rejects(DatasetIndex.open(path), { code: 'dataset.index-malformed', message }, what);
    }
  });

  it('aicert data index + prove --index + check-proof, and a stale index exits 2', async () => {
    const dataset = writeJsonl(RECORDS);
    const index = join(dir, 'cli.aicert-index');
    const built = await runCli(['data', 'index', '--dataset', dataset, '--out', index, '--json']);
    assert.equal(built.status, 0, built.stderr);
    const { dataset: commitment } = JSON.parse(built.stdout);
    const proofPath = join(dir, 'cli.proof.json');
    const args = ['data', 'prove', '--dataset', dataset, '--index', index, '--record', RECORDS[201]!];
    const prove = await runCli([...args, '--tree', 'order', '--out', proofPath]);
    assert.equal(prove.status, 0, prove.stderr);
    assert.match(prove.stderr, /inclusion proof for leaf 201 of 203 in the order tree/);
    const check = await runCli([
      'data',
      'check-proof',
      proofPath,
      '--root',
      commitment.orderRoot,
      '--record',
      RECORDS[201]!,
    ]);
    assert.equal(check.status, 0, check.stderr);
    const inside = await runCli(['data', 'index', '--dataset', dir, '--out', join(dir, 'x.aicert-index')]);
    assert.equal(inside.status, 2);
    assert.match(inside.stderr, /usage\.index-out/);
    appendFileSync(dataset, '{"new":1}\n');
    const stale = await runCli(args);
    assert.equal(stale.status, 2);
    assert.match(stale.stderr, /dataset\.index-stale/);
  });

  it('a folder of files: its index proves a file (--file) against the root of `data root`; a renamed file is stale', async () => {
    const folder = join(dir, 'folder');
    mkdirSync(join(folder, 'cats'), { recursive: true });
    for (let i = 0; i < 5; i++) writeFileSync(join(folder, 'cats', `${i}.jpg`), `image ${i}`);
    const index = join(dir, 'folder.aicert-index');
    const built = await runCli(['data', 'index', '--dataset', folder, '--out', index, '--json']);
    assert.equal(built.status, 0, built.stderr);
    const root = await runCli(['data', 'root', '--dataset', folder, '--json']);
    assert.equal(JSON.parse(built.stdout).dataset.setRoot, JSON.parse(root.stdout).setRoot);
    const proofPath = join(dir, 'folder.proof.json');
    const args = ['data', 'prove', '--dataset', folder, '--index', index, '--file', 'cats/3.jpg', '--out', proofPath];
    const prove = await runCli(args);
    assert.equal(prove.status, 0, prove.stderr);
    const proof = parseDatasetProof(JSON.parse(readFileSync(proofPath, 'utf8')));
    const record = Buffer.from(`{"path":"cats/3.jpg","content":"${Buffer.from('image 3').toString('base64')}"}`);
    const verdict = verifyDatasetProof(proof, Buffer.from(JSON.parse(root.stdout).setRoot, 'hex'), record);
    assert.equal(verdict.valid, true);
    assert.equal(proof.type, 'inclusion');
    renameSync(join(folder, 'cats', '4.jpg'), join(folder, 'cats', '5.jpg'));
    const stale = await runCli(args);
    assert.equal(stale.status, 2);
    assert.match(stale.stderr, /dataset\.index-stale/);
  });
});

describe('dataset index: order positions', () => {
  it('the first position of every set leaf, in ranges of any size, with leaves that share their leading 48 bits', async () => {
    await assertProperty(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(5), fc.nat(3)), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 7 }),
        async (draws, rangeLeaves, scanLeaves) => {
          // Few distinct leading keys (first 6 bytes), so that ties inside and across ranges are common.
          const order = Buffer.concat(
            draws.map(([prefix, rest]) => {
              const leaf = Buffer.alloc(HASH_BYTES);
              leaf[5] = prefix;
              leaf[31] = rest;
              return leaf;
            }),
          );
          const set = sortedDistinctLeaves(order);
          const source = { orderLeaves: order, setLeaves: set };
          const chunks: Buffer[] = [];
          await writeOrderPositions(
            async (section, from, count) => source[section].subarray(from * HASH_BYTES, (from + count) * HASH_BYTES),
            order.length / HASH_BYTES,
            set.length / HASH_BYTES,
            async (bytes) => {
              chunks.push(Buffer.from(bytes));
            },
            { rangeLeaves, scanLeaves },
          );
          const positions = Buffer.concat(chunks);
          for (let k = 0; k * HASH_BYTES < set.length; k++) {
            const leaf = set.subarray(k * HASH_BYTES, (k + 1) * HASH_BYTES);
            let expected = 0;
            while (!order.subarray(expected * HASH_BYTES, (expected + 1) * HASH_BYTES).equals(leaf)) expected++;
            assert.equal(Number(positions.readBigUInt64BE(k * 8)), expected);
          }
        },
      ),
    );
  });
});
