/**
 * The parallel, bounded-memory record trees (parallel-record-roots.ts) against the serial
 * reference (buildDatasetTrees): the same roots, counts and header on random files, and the same
 * error (code and message) on broken ones. Small pieces, blocks and sort runs (the internal
 * tuning) make a few kB take every path: records and quoted CSV fields across piece boundaries,
 * many blocks, sorted runs spilled to files and merged in several passes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { AicertError } from '../../../src/errors.js';
import { buildDatasetTrees, datasetCommitment } from '../../../src/measure/dataset/dataset-tree.js';
import { DistinctLeafSorter } from '../../../src/measure/dataset/leaf-sorter.js';
import { HASH_BYTES, merkleRoot } from '../../../src/measure/dataset/merkle.js';
import type { RecordRootsTuning } from '../../../src/measure/dataset/parallel-record-roots.js';
import type { RecordFormat } from '../../../src/measure/dataset/record-format.js';
import { measureRecordFile } from '../../../src/measure/dataset/record-file-measurement.js';
import { RecordPool } from '../../../src/measure/dataset/record-pool.js';
import { sortedDistinctLeaves } from '../../../src/measure/dataset/sorted-leaves.js';
import { StreamingMerkleRoot } from '../../../src/measure/dataset/streaming-merkle.js';
import { assertProperty } from '../../util/property.js';
import { scratchDir } from '../helpers.js';

const dir = scratchDir('parallel-roots');
const pool = new RecordPool({ workers: 2 });
after(() => pool.close());

let fileCounter = 0;
function writeCase(content: Buffer, extension: string): string {
  const path = join(dir, `case-${fileCounter++}.${extension}`);
  writeFileSync(path, content);
  return path;
}

type Outcome = { ok: true; value: unknown } | { ok: false; code: string; message: string };

async function outcome(work: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: await work() };
  } catch (err) {
    if (!(err instanceof AicertError)) throw err;
    return { ok: false, code: err.code, message: err.message };
  }
}

/** Serial and parallel agree: the same commitment and a digest of the bytes, or the same error. */
async function assertSameAsSerial(
  content: Buffer,
  format: RecordFormat,
  tuning: RecordRootsTuning,
  maxRecordBytes?: number,
): Promise<Outcome> {
  const extension = format === 'text' ? 'txt' : format;
  const path = writeCase(content, extension);
  const options = maxRecordBytes === undefined ? {} : { maxRecordBytes };
  const serial = await outcome(async () => datasetCommitment(await buildDatasetTrees(path, { format, ...options })));
  const parallel = await outcome(async () => {
    const measured = await measureRecordFile(path, { format, pool, tuning, ...options });
    assert.equal(measured.sha256, createHash('sha256').update(content).digest('hex'));
    assert.equal(measured.size, content.length);
    return measured.commitment;
  });
  const what = `${format} file ${JSON.stringify(content.toString('latin1'))}`;
  if (!serial.ok && !parallel.ok && [serial.code, parallel.code].includes('dataset.record-too-long')) {
    // A record both too long and malformed further on: the serial read notices whichever its
    // 1 MiB reads reach first, so which of the two is named depends on read sizes; both refuse it.
    assert.ok(parallel.code.startsWith('dataset.'), what);
    return serial;
  }
  assert.deepEqual(parallel, serial, what);
  return serial;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

const tuningArbitrary: fc.Arbitrary<RecordRootsTuning> = fc.record({
  chunkBytes: fc.integer({ min: 3, max: 48 }),
  blockLeaves: fc.constantFrom(2, 4, 8),
  sort: fc.record({
    runLeaves: fc.integer({ min: 1, max: 6 }),
    memoryLeaves: fc.integer({ min: 1, max: 12 }),
    fanIn: fc.integer({ min: 2, max: 4 }),
    readLeaves: fc.integer({ min: 1, max: 3 }),
    tempParent: fc.constant(dir),
  }),
});

/** Lines joined by LF or CRLF, maybe after a byte order mark, maybe without the last terminator. */
function fileOf(lines: string[], crlf: boolean[], bom: boolean, lastTerminated: boolean): Buffer {
  const text = lines
    .map((line, i) => (i < lines.length - 1 || lastTerminated ? line + (crlf[i % crlf.length] ? '\r\n' : '\n') : line))
    .join('');
  return Buffer.concat([bom ? BOM : Buffer.alloc(0), Buffer.from(text, 'utf8')]);
}

const layout = fc.record({
  crlf: fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }),
  bom: fc.boolean(),
  lastTerminated: fc.boolean(),
});

// A small pool of records so that duplicates are common.
const jsonLine = fc.oneof(
  fc.constantFrom('{"a":1}', '[1,2]', '"x"', '{"t":"é ü"}', '', '  ', '\t', ' {"b":null} '),
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
);
const csvField = fc.oneof(
  fc.stringMatching(/^[a-z0-9 ]{0,4}$/),
  fc
    .array(fc.constantFrom('a', ',', '\n', '\r\n', '""', ' ', 'é'), { maxLength: 6 })
    .map((parts) => `"${parts.join('')}"`),
);
const csvRow = fc.oneof(
  fc.tuple(csvField, csvField).map(([a, b]) => `${a},${b}`),
  fc.constant(''),
);
const textLine = fc.oneof(fc.constantFrom('one', 'two', '', ' ', 'a\rb'), fc.string({ maxLength: 6 }));

/** Bytes that break records: stray quotes, terminators, invalid UTF-8, JSON syntax. */
const mutation = fc.array(fc.tuple(fc.nat(), fc.constantFrom('"', '\n', '\r', '{', ',', ' ', '\xff', '\x01', ']')), {
  maxLength: 3,
});

function mutate(content: Buffer, edits: Array<[number, string]>): Buffer {
  let bytes = content;
  for (const [at, text] of edits) {
    const position = bytes.length === 0 ? 0 : at % (bytes.length + 1);
    const inserted = text === '\xff' ? Buffer.from([0xff]) : Buffer.from(text, 'latin1');
    bytes = Buffer.concat([bytes.subarray(0, position), inserted, bytes.subarray(position)]);
  }
  return bytes;
}

describe('parallel record trees = the serial reference', () => {
  it('JSONL: random files give the serial roots, counts and digest (property)', async () => {
    await assertProperty(
      fc.asyncProperty(fc.array(jsonLine, { maxLength: 30 }), layout, tuningArbitrary, async (lines, l, tuning) => {
        const result = await assertSameAsSerial(fileOf(lines, l.crlf, l.bom, l.lastTerminated), 'jsonl', tuning);
        assert.ok(result.ok, 'generated JSONL files are valid');
      }),
      { numRuns: 60 },
    );
  });

  it('CSV: quoted fields with commas, escaped quotes and line ends across piece boundaries (property)', async () => {
    await assertProperty(
      fc.asyncProperty(fc.array(csvRow, { maxLength: 25 }), layout, tuningArbitrary, async (rows, l, tuning) => {
        const result = await assertSameAsSerial(
          fileOf(['h1,h2', ...rows], l.crlf, l.bom, l.lastTerminated),
          'csv',
          tuning,
        );
        assert.ok(result.ok, 'generated CSV files are valid');
      }),
      { numRuns: 60 },
    );
  });

  it('text: random lines (property)', async () => {
    await assertProperty(
      fc.asyncProperty(fc.array(textLine, { maxLength: 30 }), layout, tuningArbitrary, async (lines, l, tuning) => {
        await assertSameAsSerial(fileOf(lines, l.crlf, l.bom, l.lastTerminated), 'text', tuning);
      }),
      { numRuns: 40 },
    );
  });

  it('broken files fail with the serial error, code and message (line numbers included) (property)', async () => {
    const content = fc.oneof(
      fc.tuple(fc.constant<RecordFormat>('jsonl'), fc.array(jsonLine, { maxLength: 20 })),
      fc.tuple(
        fc.constant<RecordFormat>('csv'),
        fc.array(csvRow, { maxLength: 20 }).map((r) => ['h1,h2', ...r]),
      ),
      fc.tuple(fc.constant<RecordFormat>('text'), fc.array(textLine, { maxLength: 20 })),
    );
    await assertProperty(
      fc.asyncProperty(
        content,
        layout,
        mutation,
        tuningArbitrary,
        fc.option(fc.integer({ min: 2, max: 40 })),
        async ([format, lines], l, edits, tuning, max) => {
          const bytes = mutate(fileOf(lines, l.crlf, l.bom, l.lastTerminated), edits);
          await assertSameAsSerial(bytes, format, tuning, max ?? undefined);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('a CSV quoted field that is never closed, across many pieces, is a clear error naming its line', async () => {
    const rows = Array.from({ length: 20 }, (_, i) => `${i},plain`);
    const content = Buffer.from(`id,text\n${rows.join('\n')}\n21,"opened\nand\nnever\nclosed, ${'x'.repeat(200)}\n`);
    const result = await assertSameAsSerial(content, 'csv', { chunkBytes: 16 });
    assert.deepEqual(result, {
      ok: false,
      code: 'dataset.csv-malformed',
      message: 'CSV line 22: a quoted field that is never closed (RFC 4180)',
    });
  });

  it('a CSV quoted field spanning pieces is one record, and its line ends do not cut it', async () => {
    const field = `"${Array.from({ length: 40 }, (_, i) => `line ${i}, with "" quotes`).join('\n')}"`;
    const content = Buffer.from(`id,text\n1,${field}\n2,after\n3,${field}\n`);
    const result = await assertSameAsSerial(content, 'csv', { chunkBytes: 7, blockLeaves: 2 });
    assert.ok(result.ok);
    assert.equal((result.value as { records: number }).records, 3);
    assert.equal((result.value as { distinctRecords: number }).distinctRecords, 3);
  });

  it('10,000 records in 1 KiB pieces, small blocks and spilled runs: the serial roots', async () => {
    const lines = Array.from({ length: 10_000 }, (_, i) => JSON.stringify({ i: i % 7_000, t: 'y'.repeat(i % 50) }));
    const result = await assertSameAsSerial(fileOf(lines, [false, true], true, true), 'jsonl', {
      chunkBytes: 1024,
      blockLeaves: 64,
      sort: { runLeaves: 500, memoryLeaves: 1000, fanIn: 3, readLeaves: 100, tempParent: dir },
    });
    assert.ok(result.ok);
    assert.equal((result.value as { distinctRecords: number }).distinctRecords, 7_000);
  });
});

describe('external sort of the set leaves: a private temporary directory, removed afterwards', () => {
  function tempParent(): string {
    const parent = join(dir, `tmp-${fileCounter++}`);
    mkdirSync(parent);
    return parent;
  }
  const spilling = (parent: string): RecordRootsTuning => ({
    chunkBytes: 64,
    sort: { runLeaves: 4, memoryLeaves: 4, fanIn: 2, tempParent: parent },
  });

  it('spilled runs live in a mode-0700 directory that is gone after the merge', async () => {
    const parent = tempParent();
    const sorter = new DistinctLeafSorter(async (run) => sortedDistinctLeaves(Buffer.from(run)), {
      runLeaves: 3,
      memoryLeaves: 3,
      fanIn: 2,
      tempParent: parent,
    });
    const leaves = Buffer.concat(
      Array.from({ length: 20 }, (_, i) =>
        createHash('sha256')
          .update(String(i % 15))
          .digest(),
      ),
    );
    try {
      await sorter.push(leaves);
      await sorter.push(leaves.subarray(0, 5 * HASH_BYTES));
      const merged: Buffer[] = [];
      const count = await sorter.finish(async (batch) => void merged.push(Buffer.from(batch)), 4);
      const directory = sorter.tempDirectory;
      assert.ok(directory, 'runs were spilled');
      assert.equal(statSync(directory).mode & 0o777, 0o700);
      assert.equal(count, 15);
      assert.deepEqual(Buffer.concat(merged), sortedDistinctLeaves(leaves));
    } finally {
      await sorter.dispose();
    }
    assert.deepEqual(readdirSync(parent), []);
  });

  it('leaves held in memory over several ranges, or spilled once they outgrow it: the sorted distinct leaves', async () => {
    const leaves = Buffer.concat(
      Array.from({ length: 400 }, (_, i) =>
        createHash('sha256')
          .update(String(i % 300))
          .digest(),
      ),
    );
    for (const memoryLeaves of [1000, 150]) {
      const parent = tempParent();
      const sorter = new DistinctLeafSorter(async (run) => sortedDistinctLeaves(Buffer.from(run)), {
        runLeaves: 64,
        memoryLeaves,
        ranges: 8,
        tempParent: parent,
      });
      try {
        for (let at = 0; at < leaves.length; at += 37 * HASH_BYTES)
          await sorter.push(leaves.subarray(at, at + 37 * HASH_BYTES));
        const merged: Buffer[] = [];
        const count = await sorter.finish(async (batch) => void merged.push(Buffer.from(batch)), 16);
        assert.equal(sorter.tempDirectory !== undefined, memoryLeaves < 400, 'spilled exactly past the bound');
        assert.equal(count, 300);
        assert.deepEqual(Buffer.concat(merged), sortedDistinctLeaves(leaves));
      } finally {
        await sorter.dispose();
      }
    }
  });

  it('ranges must be a power of two from 1 to 256', () => {
    for (const ranges of [0, 3, 512, 1.5]) {
      assert.throws(() => new DistinctLeafSorter(async (run) => run, { ranges }), RangeError);
    }
  });

  it('no temporary files remain after a successful build that spilled', async () => {
    const parent = tempParent();
    const lines = Array.from({ length: 300 }, (_, i) => `{"n":${i}}`);
    const result = await assertSameAsSerial(fileOf(lines, [false], false, true), 'jsonl', spilling(parent));
    assert.ok(result.ok);
    assert.deepEqual(readdirSync(parent), []);
  });

  it('no temporary files remain when the file fails after runs were spilled', async () => {
    const parent = tempParent();
    const lines = [...Array.from({ length: 300 }, (_, i) => `{"n":${i}}`), '{"broken":'];
    const result = await assertSameAsSerial(fileOf(lines, [false], false, true), 'jsonl', spilling(parent));
    assert.equal(result.ok, false);
    assert.equal((result as { code: string }).code, 'dataset.jsonl-invalid');
    assert.match((result as { message: string }).message, /^JSONL line 301 /);
    assert.deepEqual(readdirSync(parent), []);
  });
});

describe('StreamingMerkleRoot', () => {
  it('the RFC 6962 hash of all leaves, whatever the block size and how leaves are pushed (property)', async () => {
    await assertProperty(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 70 }),
        fc.constantFrom(2, 4, 8, 16),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 5 }),
        async (count, blockLeaves, pushSizes) => {
          const leaves = Buffer.concat(
            Array.from({ length: count }, (_, i) => createHash('sha256').update(`leaf ${i}`).digest()),
          );
          const tree = new StreamingMerkleRoot(async (block) => merkleRoot(block), blockLeaves, 2);
          for (let at = 0, k = 0; at < count; k++) {
            const take = Math.min(pushSizes[k % pushSizes.length]!, count - at);
            await tree.push(leaves.subarray(at * HASH_BYTES, (at + take) * HASH_BYTES));
            at += take;
          }
          assert.equal(tree.count, count);
          assert.deepEqual(await tree.finish(), merkleRoot(leaves));
        },
      ),
    );
  });
});
