import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, openSync, renameSync, statSync, utimesSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { AicertError } from '../../src/errors.js';
import { HashPool } from '../../src/measure/hash-pool.js';
import { measurePath } from '../../src/measure/manifest.js';
import { scratchDir } from '../measure/helpers.js';

/**
 * Issue 16, item 6: a writer that changes a file's bytes while it is hashed and then puts its
 * mtime back (utimes) kept its size and mtime, which was all the hash worker compared: the
 * measurement exited 0 with a digest of neither version. utimes moves ctime, which no
 * unprivileged call sets back, and a replacement by rename has another inode; both are compared
 * now (src/measure/file-version.ts).
 */

const dir = scratchDir('attack-change');
// Small reads make the 256 MiB file below take many reads, so the change lands mid-file.
const pool = new HashPool({ workers: 1, readBufferSize: 4096 });
after(() => pool.close());

const FILE_BYTES = 256 * 2 ** 20;
/** Whole seconds, so that utimes can put the mtime back exactly (no rounding of a fraction). */
const LISTED_TIME = 1_700_000_000;

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof AicertError, `expected an AicertError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

/** A sparse file with a whole-second mtime; then a pause so the clock moves before any change. */
async function victim(name: string): Promise<string> {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  ftruncateSync(fd, FILE_BYTES);
  closeSync(fd);
  utimesSync(path, LISTED_TIME, LISTED_TIME);
  await sleep(50);
  return path;
}

describe('attack: change a file while it is measured, then restore its mtime', () => {
  it('bytes rewritten mid-hash (one read, one not yet read), mtime restored with utimes → measure.file-changed', async () => {
    const path = await victim('rewritten.bin');
    let changed = false;
    const measuring = measurePath(path, {
      pool,
      onProgress: (done) => {
        // The worker reports progress after 32 MiB: the file is open and being read.
        if (done === 0 || changed) return;
        changed = true;
        const fd = openSync(path, 'r+');
        writeSync(fd, Buffer.from('A'), 0, 1, 0); // already hashed
        writeSync(fd, Buffer.from('Z'), 0, 1, FILE_BYTES - 1); // not yet hashed
        closeSync(fd);
        utimesSync(path, LISTED_TIME, LISTED_TIME);
        const now = statSync(path);
        // What the old check compared is exactly as listed; only ctime shows the write.
        assert.equal(now.size, FILE_BYTES);
        assert.equal(now.mtimeMs, LISTED_TIME * 1000);
      },
    });
    await rejectsWith(measuring, 'measure.file-changed');
    assert.ok(changed, 'the change was made while the file was being hashed');
  });

  it('the file replaced by rename after listing, same size and mtime → measure.file-changed', async () => {
    const path = await victim('replaced.bin');
    const other = join(dir, 'other.bin');
    let replaced = false;
    const measuring = measurePath(path, {
      pool,
      onProgress: (done) => {
        // The first call comes after the listing and before the file is opened.
        if (done !== 0 || replaced) return;
        replaced = true;
        const fd = openSync(other, 'w');
        ftruncateSync(fd, FILE_BYTES);
        writeSync(fd, Buffer.from('X'), 0, 1, 0);
        closeSync(fd);
        utimesSync(other, LISTED_TIME, LISTED_TIME);
        renameSync(other, path);
      },
    });
    await rejectsWith(measuring, 'measure.file-changed');
    assert.ok(replaced);
  });
});
