/**
 * WebDataset tar shards: a record is a sample (the files sharing a key), as the canonical JSON
 * of extension → base64 contents. Tars are written here with tar-stream's packer; the refusals
 * (escaping paths, links, devices, repeated keys, oversized entries, a truncated tar) are each one
 * InputError with its code.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import tar from 'tar-stream';
import { AicertError } from '../../../src/errors.js';
import { measureDatasetContent } from '../../../src/measure/dataset/dataset-content.js';
import { datasetCommitmentOf } from '../../../src/measure/dataset/dataset-source.js';
import { buildDatasetTrees, commitmentOfRoots, datasetCommitment } from '../../../src/measure/dataset/dataset-tree.js';
import { RecordPool } from '../../../src/measure/dataset/record-pool.js';
import { sampleRecord, webdatasetRootsOf } from '../../../src/measure/dataset/webdataset-roots.js';
import { runCli, scratchDir } from '../helpers.js';

const dir = scratchDir('webdataset');
const pool = new RecordPool({ workers: 2 });
after(() => pool.close());
let count = 0;

type Entry = { name: string; body?: Buffer | string; type?: tar.Headers['type']; linkname?: string };

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const body = e.body === undefined ? undefined : Buffer.from(e.body);
    pack.entry({ name: e.name, type: e.type ?? 'file', ...(e.linkname && { linkname: e.linkname }) }, body);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

async function writeTar(entries: Entry[]): Promise<string> {
  const path = join(dir, `t-${count++}.tar`);
  writeFileSync(path, await tarOf(entries));
  return path;
}

async function rootsOf(path: string, maxRecordBytes?: number) {
  const handle = await open(path);
  try {
    return commitmentOfRoots(
      await webdatasetRootsOf(handle, path, { pool, ...(maxRecordBytes && { maxRecordBytes }) }),
    );
  } finally {
    await handle.close();
  }
}

const samples = Array.from({ length: 40 }, (_, i) => ({
  key: `shard/${String(i).padStart(6, '0')}`,
  files: { jpg: Buffer.from([0xff, 0xd8, i, 0x00, 0x0a]), txt: `caption ${i % 30}\n`, cls: String(i % 3) },
}));

function entriesOf(list = samples, order: string[] = ['jpg', 'txt', 'cls']): Entry[] {
  return list.flatMap((s) => order.map((ext) => ({ name: `${s.key}.${ext}`, body: s.files[ext as 'jpg'] })));
}

const isCode = (code: string) => (err: unknown) => err instanceof AicertError && err.code === code;

describe('WebDataset tars', () => {
  it('a sample is the JSON of extension → base64 contents, in extension order; file order within a sample does not matter', async () => {
    const a = await rootsOf(await writeTar(entriesOf()));
    const b = await rootsOf(await writeTar(entriesOf(samples, ['txt', 'cls', 'jpg'])));
    assert.deepEqual(b, a);
    // The same records as a JSONL file (each sample's encoding is one JSON line) give the same roots.
    const lines = samples.map((s) =>
      sampleRecord(new Map(Object.entries(s.files).map(([ext, v]) => [ext, Buffer.from(v)]))).toString(),
    );
    assert.equal(lines[0], `{"cls":"MA==","jpg":"/9gAAAo=","txt":"Y2FwdGlvbiAwCg=="}`);
    const jsonl = join(dir, 'samples.jsonl');
    writeFileSync(jsonl, lines.map((l) => `${l}\n`).join(''));
    const reference = datasetCommitment(await buildDatasetTrees(jsonl));
    assert.equal(a.format, 'webdataset');
    assert.equal(a.records, 40);
    assert.equal(a.orderRoot, reference.orderRoot);
    assert.equal(a.setRoot, reference.setRoot);
  });

  it('directories and ./ prefixes are allowed; shards of tars are one dataset', async () => {
    const first = await writeTar([{ name: 'shard/', type: 'directory' }, ...entriesOf(samples.slice(0, 25))]);
    const second = await writeTar(entriesOf(samples.slice(25)).map((e) => ({ ...e, name: `./${e.name}` })));
    const whole = await rootsOf(await writeTar(entriesOf()));
    const shards = join(dir, 'tar-shards');
    const { mkdirSync, copyFileSync } = await import('node:fs');
    mkdirSync(shards);
    copyFileSync(first, join(shards, 'train-0.tar'));
    copyFileSync(second, join(shards, 'train-1.tar'));
    const sharded = await datasetCommitmentOf(shards, { pool });
    assert.equal(sharded.orderRoot, whole.orderRoot);
    assert.equal(sharded.setRoot, whole.setRoot);
  });

  it('refuses path escapes, links, devices, repeated keys, oversized samples and broken tars, each with its code', async () => {
    const ok = entriesOf(samples.slice(0, 2));
    const cases: Array<[string, Entry[] | Buffer, string]> = [
      ['parent segment', [...ok, { name: 'a/../../etc/x.txt', body: 'x' }], 'dataset.webdataset-path'],
      ['absolute path', [{ name: '/etc/passwd.txt', body: 'x' }], 'dataset.webdataset-path'],
      ['symlink', [...ok, { name: 'k.txt', type: 'symlink', linkname: '/etc/passwd' }], 'dataset.webdataset-link'],
      [
        'hardlink',
        [...ok, { name: 'k.txt', type: 'link', linkname: `${samples[0]!.key}.txt` }],
        'dataset.webdataset-link',
      ],
      ['fifo', [{ name: 'k.txt', type: 'fifo' }], 'dataset.webdataset-entry'],
      ['no extension', [{ name: 'README', body: 'x' }], 'dataset.webdataset-name'],
      [
        'key+extension twice',
        [...ok, { name: `${samples[1]!.key}.txt`, body: 'again' }],
        'dataset.webdataset-duplicate',
      ],
      [
        'key back after another',
        [...ok, { name: `${samples[0]!.key}.json`, body: '{}' }],
        'dataset.webdataset-duplicate',
      ],
    ];
    for (const [what, entries, code] of cases) {
      const path = await writeTar(entries as Entry[]);
      await assert.rejects(rootsOf(path), isCode(code), what);
    }
    const big = await writeTar([{ name: 'k.bin', body: Buffer.alloc(3000) }]);
    await assert.rejects(rootsOf(big, 1000), isCode('dataset.record-too-long'));
    const whole = await tarOf(entriesOf());
    const truncated = join(dir, 'truncated.tar');
    writeFileSync(truncated, whole.subarray(0, 512 * 7 + 100));
    await assert.rejects(rootsOf(truncated), isCode('dataset.webdataset-malformed'));
    const garbage = join(dir, 'garbage.tar');
    writeFileSync(garbage, Buffer.alloc(2048, 0x41));
    await assert.rejects(rootsOf(garbage), isCode('dataset.webdataset-malformed'));
  });

  it('aicert data prove: a sample proof checks against the set root; a refused tar is one line, exit 2', async () => {
    const path = await writeTar(entriesOf());
    const root = await runCli(['data', 'root', '--dataset', path, '--json']);
    assert.equal(root.status, 0, root.stderr);
    const { setRoot } = JSON.parse(root.stdout);
    const s = samples[33]!;
    const record = sampleRecord(new Map(Object.entries(s.files).map(([ext, v]) => [ext, Buffer.from(v)])));
    const recordFile = join(dir, 'sample.json');
    writeFileSync(recordFile, record);
    const out = join(dir, 'sample.proof.json');
    const prove = await runCli(['data', 'prove', '--dataset', path, '--record-file', recordFile, '--out', out]);
    assert.equal(prove.status, 0, prove.stderr);
    assert.match(prove.stderr, /inclusion proof/);
    assert.equal(
      (await runCli(['data', 'check-proof', out, '--root', setRoot, '--record-file', recordFile])).status,
      0,
    );
    const escaping = await writeTar([{ name: '../evil.txt', body: 'x' }]);
    const refused = await runCli(['data', 'root', '--dataset', escaping]);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /escapes the archive/);
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  });

  it('run/verify --data read a .tar as WebDataset, as `data root` does; a bad one is refused', async () => {
    const data = join(dir, 'run-data');
    mkdirSync(data);
    const bytes = await tarOf(entriesOf());
    writeFileSync(join(data, 'train-0.tar'), bytes);
    writeFileSync(join(data, 'README.md'), '# shards\n');
    const content = await measureDatasetContent(data);
    const { shards: _, ...commitment } = await datasetCommitmentOf(join(data, 'train-0.tar'), { pool });
    assert.equal(commitment.format, 'webdataset');
    assert.equal(commitment.records, samples.length);
    assert.deepEqual(content.recordFiles, [{ name: 'train-0.tar', commitment }]);
    assert.equal(
      content.manifest.entries.find((e) => e.name === 'train-0.tar')?.digest,
      createHash('sha256').update(bytes).digest('hex'),
    );
    writeFileSync(join(data, 'train-1.tar'), await tarOf([{ name: 'a/../../evil.txt', body: 'x' }]));
    await assert.rejects(measureDatasetContent(data), (err: unknown) => {
      assert.ok(err instanceof AicertError && err.code === 'dataset.webdataset-path', String(err));
      assert.match(err.message, /train-1\.tar/);
      return true;
    });
  });
});
