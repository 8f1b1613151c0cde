import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, writeFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../src/util/atomic-write.js';

test('writeFileAtomic replaces the file whole and leaves no temp file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'aicert-atomic-'));
  try {
    const target = join(dir, 'out.json');
    await writeFile(target, 'old');
    await writeFileAtomic(target, 'new contents', { mode: 0o600 });
    assert.equal(await readFile(target, 'utf8'), 'new contents');
    assert.equal((await stat(target)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir), ['out.json']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('writeFileAtomic removes its temp file when the final rename fails', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'aicert-atomic-'));
  try {
    const target = join(dir, 'occupied');
    await mkdir(join(target, 'child'), { recursive: true });
    // Renaming a file over a non-empty directory fails after the temp file was written.
    await assert.rejects(writeFileAtomic(target, 'data'));
    assert.deepEqual(await readdir(dir), ['occupied']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
