/**
 * Sharded datasets: a directory of shards is one dataset. The set root is over all records
 * whatever the sharding; the order root follows the shards in name order (docs/datasets.md).
 * Leaves are checked against the serial reference (buildDatasetTrees over one concatenated file).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { AicertError } from '../../../src/errors.js';
import { datasetCommitmentOf, datasetOrderLeaves } from '../../../src/measure/dataset/dataset-source.js';
import { buildDatasetTrees, datasetCommitment } from '../../../src/measure/dataset/dataset-tree.js';
import { recordRootsOf } from '../../../src/measure/dataset/parallel-record-roots.js';
import { parquetRootsOf } from '../../../src/measure/dataset/parquet-roots.js';
import { RecordPool } from '../../../src/measure/dataset/record-pool.js';
import { assertProperty } from '../../util/property.js';
import { runCli, scratchDir } from '../helpers.js';

const dir = scratchDir('sharded');
const pool = new RecordPool({ workers: 2 });
after(() => pool.close());
// Small blocks and runs so that a few hundred records take the streaming and spilling paths.
const tuning = { chunkBytes: 64, blockLeaves: 4, sort: { runLeaves: 8, memoryLeaves: 16 } };
let cases = 0;

/** Writes `records` as JSONL shards of the given sizes under a fresh directory; returns it. */
function writeShards(records: string[], sizes: number[], names = (i: number, n: number) => shardName(i, n)): string {
  const path = join(dir, `case-${cases++}`);
  mkdirSync(path);
  let start = 0;
  for (const [i, size] of sizes.entries()) {
    const lines = records.slice(start, start + size);
    writeFileSync(join(path, names(i, sizes.length)), lines.map((r) => `${r}\n`).join(''));
    start += size;
  }
  return path;
}

function shardName(i: number, n: number): string {
  return `train-${String(i).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.jsonl`;
}

/** Cuts `total` into `parts` sizes (some empty) from the cut points drawn. */
function cut(total: number, points: number[]): number[] {
  const sorted = [0, ...points.map((p) => p % (total + 1)).sort((a, b) => a - b), total];
  return sorted.slice(1).map((p, i) => p - sorted[i]!);
}

const recordsArb = fc.array(
  fc.integer({ min: 0, max: 60 }).map((n) => JSON.stringify({ id: n, text: `record ${n}` })),
  { minLength: 0, maxLength: 300 },
);

describe('sharded datasets', () => {
  it('the same records split into different shard counts give the same roots as one file', async () => {
    await assertProperty(
      fc.asyncProperty(
        recordsArb,
        fc.array(fc.nat(), { maxLength: 9 }),
        fc.array(fc.nat(), { maxLength: 9 }),
        async (records, cutsA, cutsB) => {
          const single = join(dir, `single-${cases++}.jsonl`);
          writeFileSync(single, records.map((r) => `${r}\n`).join(''));
          const reference = datasetCommitment(await buildDatasetTrees(single));
          for (const cuts of [cutsA, cutsB]) {
            const sizes = cut(records.length, cuts);
            const sharded = await datasetCommitmentOf(writeShards(records, sizes), { pool, tuning });
            assert.equal(sharded.shards, sizes.length);
            assert.equal(sharded.setRoot, reference.setRoot);
            // Shards in name order hold the records in their original order: the order root too.
            assert.equal(sharded.orderRoot, reference.orderRoot);
            assert.equal(sharded.records, records.length);
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('shards are taken in name order: renaming shards to reorder them changes the order root to that order', async () => {
    const records = Array.from({ length: 120 }, (_, i) => JSON.stringify({ id: i }));
    const sizes = [50, 30, 40];
    const inOrder = await datasetCommitmentOf(writeShards(records, sizes), { pool, tuning });
    // The same files, named so that shard 2 sorts first: "a-…" < "b-…" < "c-…" by code points.
    const renamed = ['b-train.jsonl', 'c-train.jsonl', 'a-train.jsonl'];
    const reordered = await datasetCommitmentOf(
      writeShards(records, sizes, (i) => renamed[i]!),
      { pool, tuning },
    );
    assert.equal(reordered.setRoot, inOrder.setRoot);
    assert.notEqual(reordered.orderRoot, inOrder.orderRoot);
    const expectedOrder = [...records.slice(80), ...records.slice(0, 80)];
    const single = join(dir, 'reordered.jsonl');
    writeFileSync(single, expectedOrder.map((r) => `${r}\n`).join(''));
    assert.equal(reordered.orderRoot, datasetCommitment(await buildDatasetTrees(single)).orderRoot);
  });

  it('order leaves for proofs are those of the concatenated records, in shard order', async () => {
    const records = Array.from({ length: 70 }, (_, i) => JSON.stringify({ id: i % 50 }));
    const path = writeShards(records, [10, 0, 35, 25]);
    const single = join(dir, 'concatenated.jsonl');
    writeFileSync(single, records.map((r) => `${r}\n`).join(''));
    const { orderLeaves } = await datasetOrderLeaves(path, { pool, tuning });
    assert.deepEqual(orderLeaves, (await buildDatasetTrees(single)).orderLeaves);
  });

  it('a directory of Parquet shards gives the roots of the JSONL of its rows', async () => {
    const path = join(dir, 'parquet-shards');
    mkdirSync(path);
    const rows = Array.from({ length: 90 }, (_, i) => ({ id: BigInt(i), text: `row ${i % 40}` }));
    for (let s = 0; s < 3; s++) {
      const part = rows.slice(s * 30, s * 30 + 30);
      const columnData = [
        { name: 'id', data: part.map((r) => r.id), type: 'INT64' as const },
        { name: 'text', data: part.map((r) => r.text), type: 'STRING' as const },
      ];
      writeFileSync(
        join(path, shardName(s, 3).replace('.jsonl', '.parquet')),
        Buffer.from(parquetWriteBuffer({ columnData })),
      );
    }
    const jsonl = join(dir, 'parquet-rows.jsonl');
    writeFileSync(jsonl, rows.map((r) => `{"id":${r.id},"text":"${r.text}"}\n`).join(''));
    const sharded = await datasetCommitmentOf(path, { pool });
    const reference = datasetCommitment(await buildDatasetTrees(jsonl));
    assert.equal(sharded.format, 'parquet');
    assert.equal(sharded.orderRoot, reference.orderRoot);
    assert.equal(sharded.setRoot, reference.setRoot);
  });

  it('a shard read for its leaves alone hands on the leaves of a full read, counts them, and builds no tree', async () => {
    const records = Array.from({ length: 120 }, (_, i) => JSON.stringify({ id: i % 50 }));
    const jsonl = join(dir, 'leaves-only.jsonl');
    writeFileSync(jsonl, records.map((r) => `${r}\n`).join(''));
    const parquet = join(dir, 'leaves-only.parquet');
    const columnData = [{ name: 'id', data: records.map((_, i) => BigInt(i % 50)), type: 'INT64' as const }];
    writeFileSync(parquet, Buffer.from(parquetWriteBuffer({ columnData, rowGroupSize: 7 })));
    const { orderLeaves } = await buildDatasetTrees(jsonl);
    for (const path of [jsonl, parquet]) {
      const handle = await open(path);
      try {
        const seen: Buffer[] = [];
        const onLeaves = async (leaves: Buffer) => void seen.push(Buffer.from(leaves));
        const read = path.endsWith('.parquet')
          ? await parquetRootsOf(handle, path, { pool, tuning, onLeaves, leavesOnly: true })
          : await recordRootsOf(handle, path, { format: 'jsonl', pool, tuning, onLeaves, leavesOnly: true });
        assert.deepEqual(Buffer.concat(seen), orderLeaves, path);
        assert.equal(read.records, records.length, path);
        assert.ok(!('orderHash' in read) && !('setHash' in read) && !('distinctRecords' in read), path);
      } finally {
        await handle.close();
      }
    }
  });

  it('refuses shards of mixed formats, CSV shards with different headers, and names a broken shard', async () => {
    const mixed = writeShards(['{"a":1}', '{"a":2}'], [1, 1], (i) => (i === 0 ? 'a.jsonl' : 'b.txt'));
    await assert.rejects(
      datasetCommitmentOf(mixed, { pool }),
      (err: AicertError) => err.code === 'dataset.mixed-shards',
    );
    const csv = join(dir, 'csv-shards');
    mkdirSync(csv);
    writeFileSync(join(csv, 'a.csv'), 'id,text\n1,x\n');
    writeFileSync(join(csv, 'b.csv'), 'id,body\n2,y\n');
    await assert.rejects(datasetCommitmentOf(csv, { pool }), (err: AicertError) => err.code === 'dataset.shard-header');
    const broken = writeShards(['{"a":1}', '{"a":', '{"a":3}'], [1, 1, 1]);
    await assert.rejects(
      datasetCommitmentOf(broken, { pool, tuning }),
      (err: AicertError) => err.code === 'dataset.jsonl-invalid',
    );
  });

  it('aicert data prove on a sharded directory: a record of the last shard has a proof the set root checks', async () => {
    const records = Array.from({ length: 40 }, (_, i) => JSON.stringify({ id: i }));
    const path = writeShards(records, [10, 10, 10, 10]);
    const root = await runCli(['data', 'root', '--dataset', path, '--json']);
    assert.equal(root.status, 0, root.stderr);
    const { setRoot, orderRoot, shards } = JSON.parse(root.stdout);
    assert.equal(shards, 4);
    const out = join(dir, 'last-shard.proof.json');
    const prove = await runCli([
      'data',
      'prove',
      '--dataset',
      path,
      '--record',
      records[37]!,
      '--tree',
      'order',
      '--out',
      out,
    ]);
    assert.equal(prove.status, 0, prove.stderr);
    assert.match(prove.stderr, /inclusion proof for leaf 37 of 40 in the order tree/);
    const check = await runCli(['data', 'check-proof', out, '--root', orderRoot, '--record', records[37]!]);
    assert.equal(check.status, 0, check.stderr);
    const setProof = join(dir, 'last-shard.set.proof.json');
    assert.equal(
      (await runCli(['data', 'prove', '--dataset', path, '--record', records[39]!, '--out', setProof])).status,
      0,
    );
    assert.equal(
      (await runCli(['data', 'check-proof', setProof, '--root', setRoot, '--record', records[39]!])).status,
      0,
    );
    const other = await runCli(['data', 'check-proof', setProof, '--root', setRoot, '--record', records[1]!]);
    assert.equal(other.status, 1);
  });
});
