import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Blob } from 'node:buffer';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureModelArtifact } from '../../src/protocol/artifacts.js';
import { type DroppedFile, measureDroppedModel } from '../../src/web/dropped-model.js';

/** What a browser gives for a folder picked with <input webkitdirectory>: each file under `folder/`. */
async function asDroppedFolder(dir: string, paths: readonly string[]): Promise<DroppedFile[]> {
  return Promise.all(
    paths.map(async (path) => {
      const blob = new Blob([await readFile(join(dir, path))]);
      return {
        webkitRelativePath: `model/${path}`,
        name: path.slice(path.lastIndexOf('/') + 1),
        size: blob.size,
        arrayBuffer: () => blob.arrayBuffer(),
        slice: (start: number, end: number) => blob.slice(start, end),
      };
    }),
  );
}

/**
 * The browser verifier measures dropped model files into the artifact event the CLI's
 * measureModelArtifact makes of the same directory (the same manifest code): names, order,
 * digests, default ignores, root.
 */
test('dropped model files measure to the artifact event of the same directory', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'aicert-dropped-'));
  try {
    const files: Record<string, Buffer> = {
      'config.json': Buffer.from('{"layers":1}'),
      'a-b/x.bin': Buffer.from('dash sorts after slash in the reference order'),
      'a/y.bin': Buffer.from('y'),
      'weights.bin': Buffer.alloc(17 * 1024 * 1024 + 3, 7), // more than one 16 MiB slice when streamed
      'empty.txt': Buffer.alloc(0),
      '.git/HEAD': Buffer.from('ref: refs/heads/main\n'),
      '.gitattributes': Buffer.from('*.bin filter=lfs\n'),
      'sub/.git/keep': Buffer.from('only a top-level .git is ignored'),
    };
    for (const [path, bytes] of Object.entries(files)) {
      await mkdir(join(dir, path, '..'), { recursive: true });
      await writeFile(join(dir, path), bytes);
    }
    const cli = await measureModelArtifact(dir, 'model', 'output');
    const dropped = await asDroppedFolder(dir, Object.keys(files));
    const { name: _cliName, ...cliFields } = cli;
    for (const oneShotMaxBytes of [Number.MAX_SAFE_INTEGER, 0]) {
      const { name, ...fields } = await measureDroppedModel(dropped, oneShotMaxBytes);
      assert.deepEqual(fields, cliFields, `files digested ${oneShotMaxBytes ? 'in one call' : 'streamed'}`);
      assert.equal(name, 'the dropped folder model');
    }
    assert.deepEqual(
      cli.entries?.map((e) => e.name),
      ['a/y.bin', 'a-b/x.bin', 'config.json', 'empty.txt', 'sub/.git/keep', 'weights.bin'],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a drop with nothing left to measure is an input error, as an empty model directory is', async () => {
  const blob = new Blob(['x']);
  const only: DroppedFile = {
    webkitRelativePath: 'model/.gitignore',
    name: '.gitignore',
    size: 1,
    arrayBuffer: () => blob.arrayBuffer(),
    slice: (start, end) => blob.slice(start, end),
  };
  await assert.rejects(measureDroppedModel([only]), (err: Error & { code?: string }) => err.code === 'measure.empty');
});
