import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AicertError } from '../../src/errors.js';
import { HashPool, type HashTask } from '../../src/measure/hash-pool.js';
import { buildDatasetTrees, datasetCommitment } from '../../src/measure/dataset/dataset-tree.js';
import { measureDatasetArtifact } from '../../src/protocol/artifacts.js';
import type { ArtifactEvent } from '../../src/protocol/run-events.js';
import { checkArtifacts } from '../../src/verify/artifacts.js';
import { scratchDir, writeTree } from '../measure/helpers.js';

/**
 * Issue 16, item 2: a dataset's record roots were not bound to its file digest. The file was
 * hashed, then reopened by path to split its records, so a rename between the two reads
 * certified one file's digest with another file's record roots: a non-inclusion proof for a
 * record that was in the data then checked against the certificate. Now both come from one read
 * of one descriptor (src/measure/dataset/record-file-measurement.ts), and `verify --data`
 * compares the record trees as well as the file digests.
 */

const dir = scratchDir('attack-records');
const A = '{"text":"my article"}\n{"text":"another"}\n';
const B = '{"text":"another"}\n';

/** The digest and roots a measurement recorded must be those of one of the two versions. */
async function assertOneVersion(event: ArtifactEvent, file: string, versions: string[]): Promise<void> {
  const digest = event.entries!.find((e) => e.name === file)!.sha256;
  const tree = event.records!.find((r) => r.path === file)!;
  const bytes = versions.find((v) => createHash('sha256').update(v).digest('hex') === digest);
  assert.ok(bytes !== undefined, 'the digest is of neither version');
  const path = join(dir, `check-${digest}.jsonl`);
  writeFileSync(path, bytes);
  const expected = { path: file, ...datasetCommitment(await buildDatasetTrees(path)) };
  assert.deepEqual(
    tree,
    expected,
    `the record roots are not those of the bytes the digest names (${JSON.stringify(bytes)})`,
  );
}

function rejectsCode(err: unknown, codes: string[]): void {
  assert.ok(err instanceof AicertError, `expected an AicertError, got ${String(err)}`);
  assert.ok(codes.includes(err.code), `${err.code}: ${err.message}`);
}

/** A pool that, once it has hashed what it was given, lets the test replace a file: the rename of the attack. */
class PoolThatRenames extends HashPool {
  constructor(private readonly onHashed: () => void) {
    super({ workers: 1 });
  }

  override async hashAll(tasks: readonly HashTask[], onProgress?: (bytesDone: number) => void): Promise<Buffer[]> {
    const digests = await super.hashAll(tasks, onProgress);
    this.onHashed();
    return digests;
  }
}

describe('attack: a dataset file replaced between its hash and its record split', () => {
  it('renamed right after the pool hashed the dataset: never the digest of one file with the roots of another', async () => {
    const data = join(dir, 'deterministic');
    writeTree(data, { 'train.jsonl': A, 'README.md': 'not records\n' });
    writeTree(dir, { 'spare.jsonl': B });
    let renamed = false;
    const pool = new PoolThatRenames(() => {
      if (renamed) return;
      renamed = true;
      renameSync(join(dir, 'spare.jsonl'), join(data, 'train.jsonl'));
    });
    try {
      const event = await measureDatasetArtifact(data, pool).catch((err: unknown) => err);
      assert.ok(renamed, 'the rename happened during the measurement');
      // One read of the listed file: a rename after the listing is either seen or harmless.
      if (event instanceof Error)
        rejectsCode(event, ['dataset.changed', 'measure.file-changed', 'measure.file-missing']);
      else await assertOneVersion(event as ArtifactEvent, 'train.jsonl', [A, B]);
    } finally {
      await pool.close();
    }
  });

  it('a racing process renames two versions over the file: every measurement is of one version', async () => {
    const data = join(dir, 'raced');
    writeTree(data, { 'train.jsonl': A, 'README.md': 'not records\n' });
    writeTree(dir, { 'version-a': A, 'version-b': B });
    // Atomic replacement, again and again: link a version to a temporary name, rename it over the file.
    const racer = spawn(
      process.execPath,
      [
        '-e',
        `
      const fs = require('node:fs');
      const [a, b, target, tmp] = process.argv.slice(1);
      for (let i = 0; ; i++) {
        try { fs.unlinkSync(tmp); } catch {}
        fs.linkSync(i % 2 ? b : a, tmp);
        fs.renameSync(tmp, target);
      }`,
        join(dir, 'version-a'),
        join(dir, 'version-b'),
        join(data, 'train.jsonl'),
        join(dir, 'racer.tmp'),
      ],
      { stdio: 'ignore' },
    );
    const pool = new HashPool({ workers: 1 });
    try {
      let measured = 0;
      for (let i = 0; i < 40; i++) {
        const event = await measureDatasetArtifact(data, pool).catch((err: unknown) => err);
        if (event instanceof Error) {
          rejectsCode(event, ['dataset.changed', 'measure.file-changed', 'measure.file-missing', 'measure.not-found']);
          continue;
        }
        await assertOneVersion(event as ArtifactEvent, 'train.jsonl', [A, B]);
        measured++;
      }
      console.log(`# ${measured} of 40 measurements completed while racing (the rest refused a changed file)`);
    } finally {
      racer.kill();
      await pool.close();
    }
  });
});

describe('attack: a certificate whose record roots are not those of its dataset files', () => {
  it('verify --data compares the record trees, not only the file digests: artifact.data fails', async () => {
    const data = join(dir, 'certified');
    writeTree(data, { 'train.jsonl': A });
    const honest = await measureDatasetArtifact(data);
    // The roots of another file (the data without "my article") beside this file's digest.
    const other = join(dir, 'without-my-article.jsonl');
    writeFileSync(other, B);
    const forged: ArtifactEvent = structuredClone(honest);
    Object.assign(forged.records![0]!, datasetCommitment(await buildDatasetTrees(other)));
    assert.equal(forged.digest.sha256, honest.digest.sha256);

    const [, ok] = await checkArtifacts({ inputs: [honest], outputs: [] }, { data: [data] });
    assert.equal(ok!.status, 'ok', ok!.reason);
    const [, failed] = await checkArtifacts({ inputs: [forged], outputs: [] }, { data: [data] });
    assert.equal(failed!.id, 'artifact.data');
    assert.equal(failed!.status, 'failed', failed!.reason);
    assert.match(failed!.reason, /record trees.*train\.jsonl: .*orderRoot/);
    // A certificate that lists the same files twice, once with the honest trees, still fails.
    const [, twice] = await checkArtifacts({ inputs: [honest, forged], outputs: [] }, { data: [data] });
    assert.equal(twice!.status, 'failed', twice!.reason);
    // And one that drops the trees altogether.
    const bare: ArtifactEvent = { ...structuredClone(honest), records: undefined };
    delete bare.records;
    const [, dropped] = await checkArtifacts({ inputs: [bare], outputs: [] }, { data: [data] });
    assert.equal(dropped!.status, 'failed', dropped!.reason);
    assert.ok(readFileSync(join(data, 'train.jsonl'), 'utf8') === A);
  });
});
