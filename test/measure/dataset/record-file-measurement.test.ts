import assert from 'node:assert/strict';
import { linkSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AicertError } from '../../../src/errors.js';
import { fileVersionOf } from '../../../src/measure/file-version.js';
import { HashPool } from '../../../src/measure/hash-pool.js';
import { measurePath } from '../../../src/measure/manifest.js';
import { measureDatasetContent } from '../../../src/measure/dataset/dataset-content.js';
import { datasetCommitmentOf } from '../../../src/measure/dataset/dataset-source.js';
import { buildDatasetTrees, datasetCommitment } from '../../../src/measure/dataset/dataset-tree.js';
import { measureOpenRecordFile, measureRecordFile } from '../../../src/measure/dataset/record-file-measurement.js';
import { RecordStream } from '../../../src/measure/dataset/records.js';
import { scratchDir, sha256sum, writeTree } from '../helpers.js';

const dir = scratchDir('record-file');
const pool = new HashPool({ workers: 2 });
after(() => pool.close());

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof AicertError, `expected an AicertError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

/** Over 1 MiB (the read size), with records that straddle the read boundaries. */
const MULTI_CHUNK = Array.from({ length: 30_000 }, (_, i) => JSON.stringify({ i, text: 'x'.repeat(i % 97) })).join(
  '\n',
);

/** Record files whose splitting has edge cases: byte order marks, CRLF, headers, no last newline, emptiness. */
const FILES: Record<string, string | Buffer> = {
  'plain.jsonl': '{"a":1}\n{"a":2}\n{"a":1}\n',
  'bom-crlf.jsonl': Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}\r\n\r\n  \n{"b":2}')]),
  'table.csv': 'id,text\r\n1,"a, b"\n2,"multi\nline"\n\n3,c',
  'lines.txt': 'one\n\ntwo\nthree',
  'empty.txt': '',
  'bom-only.txt': Buffer.from([0xef, 0xbb, 0xbf]),
  'bom-prefix.txt': Buffer.from([0xef, 0xbb]),
  'big.ndjson': MULTI_CHUNK,
};
writeTree(dir, FILES);

describe('measureRecordFile: the manifest digest and the record trees from one read', () => {
  for (const name of Object.keys(FILES)) {
    it(`${name}: digest = sha256sum, trees = buildDatasetTrees`, async () => {
      const path = join(dir, name);
      const format = name.endsWith('.csv') ? 'csv' : name.endsWith('.txt') ? 'text' : 'jsonl';
      const measured = await measureRecordFile(path, { format });
      assert.equal(measured.sha256, sha256sum(path));
      assert.equal(measured.size, statSync(path).size);
      assert.deepEqual(measured.commitment, datasetCommitment(await buildDatasetTrees(path)));
    });
  }

  it('through an open handle it reads that file, whatever the path names by then (it opens nothing itself)', async () => {
    const path = join(dir, 'swapped.jsonl');
    const original = join(dir, 'original.jsonl');
    const other = join(dir, 'other.jsonl');
    writeFileSync(original, '{"kept":1}\n{"kept":2}\n');
    writeFileSync(other, '{"other":1}\n');
    linkSync(original, path);
    const handle = await open(path, 'r');
    try {
      renameSync(other, path); // the path now names another file
      const measured = await measureOpenRecordFile(handle, path, { format: 'jsonl' });
      // One descriptor: the digest, the trees and the version all describe the file opened.
      assert.equal(measured.sha256, sha256sum(original));
      assert.deepEqual(measured.commitment, datasetCommitment(await buildDatasetTrees(original)));
      assert.equal(measured.version.ino, statSync(original).ino);
      assert.notEqual(measured.version.ino, statSync(path).ino);
    } finally {
      await handle.close();
    }
  });

  it('a file that is not the version listed is dataset.changed', async () => {
    const path = join(dir, 'plain.jsonl');
    const listed = fileVersionOf(statSync(path));
    await measureRecordFile(path, { format: 'jsonl', expectedVersion: listed });
    await rejectsWith(
      measureRecordFile(path, { format: 'jsonl', expectedVersion: { ...listed, ino: listed.ino + 1 } }),
      'dataset.changed',
    );
    await rejectsWith(
      measureRecordFile(path, { format: 'jsonl', expectedVersion: { ...listed, ctimeMs: listed.ctimeMs - 1 } }),
      'dataset.changed',
    );
  });
});

describe('RecordStream', () => {
  const recordsOf = (chunks: Buffer[], format: 'jsonl' | 'text' = 'text') => {
    const records: string[] = [];
    const stream = new RecordStream(format, 1024, (record) => records.push(record.toString('latin1')));
    for (const chunk of chunks) stream.push(chunk);
    stream.end();
    return records;
  };
  const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('a\nb\n')]);

  it('drops a byte order mark split across pushes, as it drops a whole one', () => {
    const whole = recordsOf([bytes]);
    assert.deepEqual(whole, ['a', 'b']);
    assert.deepEqual(recordsOf([...bytes].map((b) => Buffer.of(b))), whole);
    assert.deepEqual(recordsOf([bytes.subarray(0, 2), bytes.subarray(2)]), whole);
    assert.deepEqual(recordsOf([Buffer.alloc(0), bytes.subarray(0, 1), Buffer.alloc(0), bytes.subarray(1)]), whole);
  });

  it('keeps bytes that only start like a byte order mark', () => {
    assert.deepEqual(recordsOf([Buffer.of(0xef), Buffer.of(0xbb)]), ['\xef\xbb']);
    assert.deepEqual(recordsOf([Buffer.of(0xef, 0x41), Buffer.from('\n')]), ['\xefA']);
  });
});

describe('measureDatasetContent: the same manifest and roots as hashing and splitting separately', () => {
  const tree = scratchDir('dataset-content');
  writeTree(tree, {
    ...FILES,
    'nested/deeper/more.jsonl': '{"n":1}\n',
    'README.md': '# not records\n',
    'blob.bin': Buffer.alloc(5000, 7),
  });

  it('a directory: manifest as measurePath gives it, one commitment per record file, in manifest order', async () => {
    const content = await measureDatasetContent(tree, { pool });
    const manifest = await measurePath(tree, { pool });
    assert.deepEqual(content.manifest, manifest);
    const recordNames = manifest.entries.map((e) => e.name).filter((n) => /\.(jsonl|ndjson|csv|txt)$/.test(n));
    assert.deepEqual(
      content.recordFiles.map((r) => r.name),
      recordNames,
    );
    for (const { name, commitment } of content.recordFiles) {
      assert.deepEqual(commitment, datasetCommitment(await buildDatasetTrees(join(tree, name))), name);
    }
  });

  it('a single record file is the entry "."', async () => {
    const path = join(tree, 'table.csv');
    const content = await measureDatasetContent(path, { pool });
    assert.deepEqual(content.manifest, await measurePath(path, { pool }));
    assert.deepEqual(content.recordFiles, [
      { name: '.', commitment: datasetCommitment(await buildDatasetTrees(path)) },
    ]);
  });

  it('a directory without record files is a folder of files: one commitment, named "."', async () => {
    const plain = scratchDir('no-records');
    writeTree(plain, { 'a.bin': 'x', 'b/c.zip': 'y' });
    const content = await measureDatasetContent(plain, { pool });
    assert.deepEqual(content.manifest, await measurePath(plain, { pool }));
    const { shards: _, ...commitment } = await datasetCommitmentOf(plain);
    assert.equal(commitment.format, 'files');
    assert.deepEqual(content.recordFiles, [{ name: '.', commitment }]);
  });
});
