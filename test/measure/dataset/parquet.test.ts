/**
 * Parquet datasets: a record is a row's canonical encoding, independent of how the file was
 * written. Fixtures are written here with hyparquet-writer (another implementation than the
 * reader) with different row-group sizes, codecs and encodings.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { AicertError } from '../../../src/errors.js';
import { buildDatasetTrees, commitmentOfRoots, datasetCommitment } from '../../../src/measure/dataset/dataset-tree.js';
import { forEachParquetRecord, parquetRootsOf } from '../../../src/measure/dataset/parquet-roots.js';
import { RecordPool } from '../../../src/measure/dataset/record-pool.js';
import { scratchDir } from '../helpers.js';

const dir = scratchDir('parquet');
const pool = new RecordPool({ workers: 2 });
after(() => pool.close());

const ROWS = 3000;
const columns = () => [
  { name: 'id', data: Array.from({ length: ROWS }, (_, i) => BigInt(i)), type: 'INT64' as const },
  { name: 'text', data: Array.from({ length: ROWS }, (_, i) => `row "${i % 700}"\n`), type: 'STRING' as const },
  { name: 'ok', data: Array.from({ length: ROWS }, (_, i) => i % 3 === 0), type: 'BOOLEAN' as const },
];
const compressors = { GZIP: (b: Uint8Array) => gzipSync(b), BROTLI: (b: Uint8Array) => brotliCompressSync(b) };

function write(name: string, options: Record<string, unknown>): string {
  const path = join(dir, name);
  writeFileSync(path, Buffer.from(parquetWriteBuffer({ columnData: columns(), compressors, ...options })));
  return path;
}

async function rootsOf(path: string) {
  const handle = await open(path);
  try {
    return commitmentOfRoots(await parquetRootsOf(handle, path, { pool }));
  } finally {
    await handle.close();
  }
}

describe('Parquet records', () => {
  it('the same rows with other row-group sizes, codecs and page sizes give identical leaves and roots', async () => {
    const variants = [
      write('a.parquet', { rowGroupSize: 3000, codec: 'UNCOMPRESSED' }),
      write('b.parquet', { rowGroupSize: 1, codec: 'SNAPPY' }),
      write('c.parquet', { rowGroupSize: 777, codec: 'GZIP', pageSize: 1024 }),
      write('d.parquet', { rowGroupSize: [10, 2000], codec: 'BROTLI' }),
    ];
    const records: string[][] = [];
    for (const path of variants) {
      const rows: string[] = [];
      const handle = await open(path);
      await forEachParquetRecord(handle, path, (r) => rows.push(r)).finally(() => handle.close());
      records.push(rows);
    }
    for (const rows of records.slice(1)) assert.deepEqual(rows, records[0]);
    const roots = await Promise.all(variants.map(rootsOf));
    for (const r of roots.slice(1)) assert.deepEqual(r, roots[0]);
    assert.equal(roots[0]!.records, ROWS);
  });

  it('a row is the compact JSON of its columns: the same leaves as that JSONL file', async () => {
    const jsonl = join(dir, 'same.jsonl');
    const c = columns();
    const lines = Array.from({ length: ROWS }, (_, i) =>
      JSON.stringify({ id: Number(c[0]!.data[i]), text: c[1]!.data[i], ok: c[2]!.data[i] }),
    );
    writeFileSync(jsonl, `${lines.join('\n')}\n`);
    const parquet = await rootsOf(write('e.parquet', { rowGroupSize: 500 }));
    const { format: _, ...fromJsonl } = datasetCommitment(await buildDatasetTrees(jsonl));
    const { format, ...fromParquet } = parquet;
    assert.equal(format, 'parquet');
    assert.deepEqual(fromParquet, fromJsonl);
  });

  it('a truncated Parquet file is one clear input error', async () => {
    const whole = write('whole.parquet', { rowGroupSize: 500 });
    const bytes = (await open(whole).then(async (h) => h.readFile().finally(() => h.close()))) as Buffer;
    for (const cut of [bytes.length - 1, bytes.length - 200, 20]) {
      const path = join(dir, `cut-${cut}.parquet`);
      writeFileSync(path, bytes.subarray(0, cut));
      await assert.rejects(rootsOf(path), (err: unknown) => {
        assert.ok(err instanceof AicertError && err.exitStatus === 2, String(err));
        assert.equal(err.code, 'dataset.parquet-malformed');
        assert.ok(!err.message.includes('\n'));
        return true;
      });
    }
  });
});
