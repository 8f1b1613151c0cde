/**
 * Parquet row groups are decoded in workers bounded in time and memory (parquet-decoders.ts):
 * a row group that sends the reader into a loop, or needs more heap than the limit, fails with one
 * line naming the file and the row group, and the decoders go on decoding other files.
 * test/fixtures/parquet/rle-loop.parquet is the fuzz case that hangs hyparquet's parquetRead
 * (target `parquet`, seed 1987439795, 7th input): a seed file with mutated page bytes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { AicertError } from '../../../src/errors.js';
import { datasetRootsOf } from '../../../src/measure/dataset/dataset-source.js';
import {
  DEADLINE_BASE_MS,
  DEADLINE_BYTES_PER_SECOND,
  decodeDeadlineMs,
  ParquetDecoders,
} from '../../../src/measure/dataset/parquet-decoders.js';
import { MAX_ROW_GROUP_BYTES } from '../../../src/measure/dataset/parquet-file.js';
import { forEachParquetRecord } from '../../../src/measure/dataset/parquet-roots.js';
import { DEFAULT_MAX_RECORD_BYTES } from '../../../src/measure/dataset/records.js';
import { RecordPool } from '../../../src/measure/dataset/record-pool.js';
import { scratchDir } from '../helpers.js';

const dir = scratchDir('parquet-decoders');
const looping = join(dir, 'rle-loop.parquet');
copyFileSync(new URL('../../../../test/fixtures/parquet/rle-loop.parquet', import.meta.url), looping);
const pool = new RecordPool({ workers: 1 });
after(() => pool.close());

function writeRows(name: string, rows: number, textBytes: number): string {
  const path = join(dir, name);
  const text = Array.from({ length: rows }, (_, i) => `${i} ${'x'.repeat(textBytes)}`);
  const columnData = [{ name: 'text', data: text, type: 'STRING' as const }];
  writeFileSync(path, Buffer.from(parquetWriteBuffer({ columnData, rowGroupSize: rows, codec: 'UNCOMPRESSED' })));
  return path;
}

async function rowsOf(path: string, decoders: ParquetDecoders): Promise<string[]> {
  const rows: string[] = [];
  const handle = await open(path);
  try {
    await forEachParquetRecord(handle, path, (row) => rows.push(row), DEFAULT_MAX_RECORD_BYTES, decoders);
  } finally {
    await handle.close();
  }
  return rows;
}

function assertOneLine(code: string, ...parts: string[]) {
  return (err: unknown) => {
    assert.ok(err instanceof AicertError, String(err));
    assert.equal(err.code, code, err.message);
    assert.equal(err.exitStatus, 2);
    assert.ok(!err.message.includes('\n'), err.message);
    for (const part of parts) assert.ok(err.message.includes(part), `${err.message} lacks ${part}`);
    return true;
  };
}

describe('Parquet decoding bounded in time and memory', () => {
  it('the deadline is 2 s plus 1 s per 2 MiB of the row group, up to the largest row group accepted', () => {
    assert.equal(decodeDeadlineMs(0), DEADLINE_BASE_MS);
    assert.equal(decodeDeadlineMs(DEADLINE_BYTES_PER_SECOND), DEADLINE_BASE_MS + 1000);
    assert.equal(decodeDeadlineMs(MAX_ROW_GROUP_BYTES), DEADLINE_BASE_MS + 256_000);
    assert.equal(decodeDeadlineMs(Number.MAX_SAFE_INTEGER), decodeDeadlineMs(MAX_ROW_GROUP_BYTES));
  });

  it('a row group that never finishes decoding fails at its deadline, and the decoders go on', async () => {
    const decoders = new ParquetDecoders({ workers: 1, deadlineMs: () => 300 });
    try {
      await assert.rejects(rowsOf(looping, decoders), assertOneLine('dataset.parquet-timeout', looping, 'row group 0'));
      // The stopped worker was replaced: a valid file decodes on the same decoders.
      const rows = await rowsOf(writeRows('after.parquet', 5, 3), decoders);
      assert.deepEqual(
        rows,
        [0, 1, 2, 3, 4].map((i) => `{"text":"${i} xxx"}`),
      );
    } finally {
      await decoders.close();
    }
  });

  it('with the default deadline, measuring the looping file is a clear error, not a hang', async () => {
    await assert.rejects(
      datasetRootsOf(looping, { pool }),
      assertOneLine('dataset.parquet-timeout', looping, 'row group 0', `${(DEADLINE_BASE_MS / 1000).toFixed(1)} s`),
    );
  });

  it('a row group that needs more heap than the limit fails naming it, and the decoders go on', async () => {
    const decoders = new ParquetDecoders({ workers: 1, heapMb: 8 });
    try {
      const big = writeRows('big.parquet', 12_000, 1000); // 12 MB of text: more than 8 MB of heap
      await assert.rejects(rowsOf(big, decoders), assertOneLine('dataset.parquet-too-large', big, 'row group 0'));
      assert.equal((await rowsOf(writeRows('small.parquet', 3, 1), decoders)).length, 3);
    } finally {
      await decoders.close();
    }
  });

  it("close() settles when a stopped worker's 'ready' arrives after terminate(), with nothing else pending", () => {
    // CI saw a worker's late 'ready' unref it after terminate(): the process then exited with close()
    // pending. Here the main thread is blocked while the worker starts, so its 'ready' is still queued
    // when close() terminates it.
    const small = writeRows('starting.parquet', 2, 1);
    const module = (name: string) =>
      JSON.stringify(new URL(`../../../src/measure/dataset/${name}`, import.meta.url).href);
    const script = `
      import { open } from 'node:fs/promises';
      import { ParquetDecoders } from ${module('parquet-decoders.js')};
      import { readParquetLayout, readSpan } from ${module('parquet-file.js')};
      let closed = false;
      process.on('exit', () => console.log(closed ? 'closed' : 'close() pending at exit'));
      const handle = await open(${JSON.stringify(small)});
      const layout = await readParquetLayout(handle, 'starting.parquet', (await handle.stat()).size);
      const span = layout.rowGroups[0];
      const bytes = new Uint8Array(await readSpan(handle, span)).buffer;
      await handle.close();
      const decoders = new ParquetDecoders({ workers: 1 });
      const decoding = decoders.records({ layout, span, bytes, path: 'starting.parquet', maxRecordBytes: 1024 });
      decoding.catch(() => {});
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2500); // the worker starts meanwhile
      await decoders.close();
      closed = true;`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(child.stderr, '');
    assert.equal(child.stdout.trim(), 'closed');
  });
});

describe('Parquet row-group buffers are reused', () => {
  it('a row group read into the buffer of a bigger one before it decodes to its own rows only', async () => {
    // Row groups of 400, 100 and 7 rows, each shorter than the one before: with one worker, each
    // is read into the buffer the previous one came back in, whose tail still holds its bytes.
    const path = join(dir, 'shrinking.parquet');
    const text = Array.from({ length: 507 }, (_, i) => `${i} ${'y'.repeat(i % 50)}`);
    const columnData = [{ name: 'text', data: text, type: 'STRING' as const }];
    const bytes = parquetWriteBuffer({ columnData, rowGroupSize: [400, 100, 7], codec: 'SNAPPY' });
    writeFileSync(path, Buffer.from(bytes));
    const decoders = new ParquetDecoders({ workers: 1 });
    try {
      const rows = await rowsOf(path, decoders);
      assert.deepEqual(
        rows,
        text.map((t) => JSON.stringify({ text: t })),
      );
      // The buffers came back: one big enough for the first row group is handed out again.
      const spare = decoders.readBuffer(1);
      assert.ok(spare.byteLength > 1000, `a spare of ${spare.byteLength} bytes`);
    } finally {
      await decoders.close();
    }
  });
});
