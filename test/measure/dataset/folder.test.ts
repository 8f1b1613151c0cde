/**
 * Folders of files as datasets: a record is a file, encoded as {"path":…,"content":base64}, in
 * path order. The roots are checked against a reference built here from whole-file records (the
 * reader streams and base64-encodes in chunks); renames, moves and content changes change the
 * leaves; links, oversized files, a file given as a folder and mixed folders are refused; proofs
 * by `aicert data prove --file` check against the set root; the measurement `run --data` and
 * `verify --data` make (measureDatasetContent) records the same roots as `aicert data root`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, readFileSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AicertError } from '../../../src/errors.js';
import { measurePath } from '../../../src/measure/manifest.js';
import { measureDatasetContent } from '../../../src/measure/dataset/dataset-content.js';
import { datasetCommitmentOf } from '../../../src/measure/dataset/dataset-source.js';
import { commitmentOfRoots } from '../../../src/measure/dataset/dataset-tree.js';
import { fileRecord, folderFiles, folderRootsOf } from '../../../src/measure/dataset/folder-roots.js';
import { leafHash, merkleRoot } from '../../../src/measure/dataset/merkle.js';
import { RecordPool } from '../../../src/measure/dataset/record-pool.js';
import { sortedDistinctLeaves } from '../../../src/measure/dataset/sorted-leaves.js';
import { runCli, scratchDir, writeTree } from '../helpers.js';

const dir = scratchDir('folder');
const pool = new RecordPool({ workers: 2 });
after(() => pool.close());

// 3 MiB + 2 bytes: read in 1 MiB chunks whose base64 must carry bytes across chunk ends.
const FILES: Record<string, Buffer> = {
  'cats/001.jpg': Buffer.from('meow\n'),
  'cats/002.jpg': Buffer.from('meow\n'), // same content, another path: another record
  'cats-x.jpg': Buffer.from('not a cat'),
  'dogs/big.bin': randomBytes(3 * 1024 * 1024 + 2),
  'dogs/empty': Buffer.alloc(0),
  'z.txt.gz': Buffer.from([0x1f, 0x8b, 0]),
};
const folder = join(dir, 'images');
writeTree(folder, FILES);

/** The reference: whole-file records, names sorted by code point with '/' lowest. */
function expectedCommitment(files: Record<string, Buffer>) {
  const rank = (name: string) => name.replaceAll('/', '\u0000');
  const names = Object.keys(files).sort((a, b) => (rank(a) < rank(b) ? -1 : 1));
  const order = Buffer.concat(names.map((name) => leafHash(fileRecord(name, files[name]!))));
  const set = sortedDistinctLeaves(order);
  return commitmentOfRoots({
    format: 'files',
    records: names.length,
    distinctRecords: set.length / 32,
    orderHash: merkleRoot(order),
    setHash: merkleRoot(set),
  });
}

function copyOf(name: string, change: (root: string) => void): string {
  const copy = join(dir, name);
  cpSync(folder, copy, { recursive: true });
  change(copy);
  return copy;
}

function refusedWith(code: string, ...parts: string[]) {
  return (err: unknown) => {
    assert.ok(err instanceof AicertError, String(err));
    assert.equal(err.code, code, err.message);
    assert.ok(!err.message.includes('\n'), err.message);
    for (const part of parts) assert.ok(err.message.includes(part), `${err.message} lacks ${part}`);
    return true;
  };
}

describe('folders of files', () => {
  it('a record per file, {"path","content"}, in path order: the reference roots', async () => {
    assert.equal(fileRecord('a/"b".jpg', Buffer.from('hi')).toString(), '{"path":"a/\\"b\\".jpg","content":"aGk="}');
    const { shards, ...commitment } = await datasetCommitmentOf(folder, { pool });
    assert.deepEqual(commitment, expectedCommitment(FILES));
    assert.equal(commitment.records, 6);
    assert.equal(shards, 1);
    // Chosen without --format: none of its files is a record file. --format files says the same.
    assert.deepEqual(await datasetCommitmentOf(folder, { pool, format: 'files' }), { ...commitment, shards });
  });

  it('renaming, moving or changing a file changes both roots; renaming the folder does not', async () => {
    const base = await datasetCommitmentOf(folder, { pool });
    const renamed = copyOf('renamed', (root) => renameSync(join(root, 'cats/001.jpg'), join(root, 'cats/003.jpg')));
    const moved = copyOf('moved', (root) => renameSync(join(root, 'cats/001.jpg'), join(root, 'dogs/001.jpg')));
    const changed = copyOf('changed', (root) => writeFileSync(join(root, 'cats/001.jpg'), 'purr\n'));
    for (const copy of [renamed, moved, changed]) {
      const other = await datasetCommitmentOf(copy, { pool });
      assert.notEqual(other.setRoot, base.setRoot, copy);
      assert.notEqual(other.orderRoot, base.orderRoot, copy);
    }
    const same = copyOf('same-files-other-folder-name', () => undefined);
    assert.deepEqual(await datasetCommitmentOf(same, { pool }), base);
  });

  it('refuses links, a file as a folder, folders mixing records and files', async () => {
    const linked = copyOf('linked', (root) => symlinkSync('../cats/001.jpg', join(root, 'dogs/link.jpg')));
    await assert.rejects(datasetCommitmentOf(linked, { pool }), refusedWith('measure.symlink', 'link.jpg'));
    const escaping = copyOf('escaping', (root) => symlinkSync('/etc/passwd', join(root, 'passwd')));
    await assert.rejects(datasetCommitmentOf(escaping, { pool }), refusedWith('measure.symlink', 'passwd'));
    await assert.rejects(
      datasetCommitmentOf(join(folder, 'cats/001.jpg'), { pool, format: 'files' }),
      refusedWith('dataset.files-not-folder', '001.jpg'),
    );
    const mixed = copyOf('mixed', (root) => writeFileSync(join(root, 'labels.jsonl'), '{"a":1}\n'));
    await assert.rejects(
      datasetCommitmentOf(mixed, { pool }),
      refusedWith('dataset.mixed-shards', 'labels.jsonl', '--format files'),
    );
    assert.equal((await datasetCommitmentOf(mixed, { pool, format: 'files' })).records, 7);
  });

  it('aicert data prove --file: an inclusion proof that checks against the set root; other files do not', async () => {
    const { setRoot } = await datasetCommitmentOf(folder, { pool });
    const proof = join(dir, 'cat.proof.json');
    const prove = await runCli(['data', 'prove', '--dataset', folder, '--file', 'cats/002.jpg', '--out', proof]);
    assert.equal(prove.status, 0, prove.stderr);
    assert.match(prove.stderr, /inclusion proof/);
    const record = join(dir, 'cat.record.json');
    writeFileSync(record, fileRecord('cats/002.jpg', FILES['cats/002.jpg']!));
    const check = await runCli(['data', 'check-proof', proof, '--root', setRoot, '--record-file', record]);
    assert.equal(check.status, 0, check.stdout + check.stderr);
    // The same bytes under another path are another record.
    writeFileSync(record, fileRecord('cats/001.jpg', FILES['cats/002.jpg']!));
    const other = await runCli(['data', 'check-proof', proof, '--root', setRoot, '--record-file', record]);
    assert.equal(other.status, 1, other.stdout + other.stderr);
    // A file over what `prove --file` reads (64 MiB; sparse here) is a usage error before any read.
    const huge = copyOf('huge', (root) => truncateSync(join(root, 'dogs/empty'), 64 * 1024 * 1024 + 1));
    const tooBig = await runCli(['data', 'prove', '--dataset', huge, '--file', 'dogs/empty']);
    assert.equal(tooBig.status, 2, tooBig.stderr);
    assert.match(tooBig.stderr, /the limit is 67108864/);
    // The tree itself streams each file: no size limit there, as in `aicert measure`.
    assert.equal((await folderRootsOf(huge, { pool })).files, 6);
    // A file outside the folder is a usage error, one line.
    const outside = await runCli(['data', 'prove', '--dataset', folder, '--file', '../escape']);
    assert.equal(outside.status, 2, outside.stderr);
    assert.match(outside.stderr, /^aicert: --file \.\.\/escape is not a file inside .*\n$/);
  });

  it('run/verify --data (measureDatasetContent): the folder manifest and the roots of `data root`', async () => {
    const content = await measureDatasetContent(folder);
    assert.deepEqual(content.manifest, await measurePath(folder));
    const { shards: _, ...commitment } = await datasetCommitmentOf(folder, { pool });
    assert.deepEqual(content.recordFiles, [{ name: '.', commitment }]);
    assert.deepEqual(
      content.manifest.entries.find((e) => e.name === 'dogs/big.bin')?.size,
      readFileSync(join(folder, 'dogs/big.bin')).length,
    );
  });

  it('files read several at a time still give leaves and manifest entries in name order', async () => {
    // 40 files, the first the largest: later reads end first, yet the order of records must hold.
    const files = Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [`f${String(i).padStart(2, '0')}`, randomBytes((40 - i) * 50_000)]),
    );
    const many = join(dir, 'many');
    writeTree(many, files);
    const { shards: _, ...commitment } = await datasetCommitmentOf(many, { pool });
    assert.deepEqual(commitment, expectedCommitment(files));
    const content = await measureDatasetContent(many);
    assert.deepEqual(content.manifest, await measurePath(many));
  });

  it('a file gone between listing and reading fails the folder with one line, and nothing is left reading', async () => {
    const gone = copyOf('gone', () => {});
    const listed = await folderFiles(gone);
    rmSync(join(gone, 'cats/002.jpg'));
    await assert.rejects(folderRootsOf(gone, { pool }, listed), (err: unknown) => {
      assert.ok(err instanceof AicertError, String(err));
      assert.ok(!err.message.includes('\n') && err.message.includes('002.jpg'), err.message);
      return true;
    });
    // The pool and the other reads are not disturbed: the folder as it is now measures.
    const now = await folderRootsOf(gone, { pool });
    assert.equal(now.files, Object.keys(FILES).length - 1);
  });
});
