import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AicertError } from '../../src/errors.js';
import { HashPool } from '../../src/measure/hash-pool.js';
import { measurePath } from '../../src/measure/manifest.js';
import { scratchDir, sha256sum, writeTree } from './helpers.js';

const pool = new HashPool({ workers: 2 });
after(() => pool.close());

async function rejectsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof AicertError, `expected an AicertError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

/** A model directory `model/` beside a file outside it. */
function setup(): { base: string; model: string } {
  const base = scratchDir('links');
  writeTree(base, { 'outside.txt': 'secret', 'model/weights.bin': 'weights', 'model/sub/inner.txt': 'inner' });
  return { base, model: join(base, 'model') };
}

describe('symbolic links refused by default', () => {
  it('a link to a file inside the model is refused, naming the link and the way out', async () => {
    const { model } = setup();
    symlinkSync('weights.bin', join(model, 'alias.bin'));
    await rejectsWith(measurePath(model, { pool }), 'measure.symlink', /alias\.bin.*--allow-symlinks/);
  });

  it('a link to a directory is refused', async () => {
    const { model } = setup();
    symlinkSync('sub', join(model, 'sub-link'));
    await rejectsWith(measurePath(model, { pool }), 'measure.symlink');
  });

  it('a model path that is itself a link is refused', async () => {
    const { base, model } = setup();
    symlinkSync(model, join(base, 'model-link'));
    await rejectsWith(measurePath(join(base, 'model-link'), { pool }), 'measure.symlink');
  });

  it('an ignored link is not looked at', async () => {
    const { model } = setup();
    symlinkSync('/etc/hostname', join(model, 'ignored-link'));
    const manifest = await measurePath(model, { pool, ignore: ['ignored-link'] });
    assert.deepEqual(
      manifest.entries.map((e) => e.name),
      ['sub/inner.txt', 'weights.bin'],
    );
  });
});

describe('symbolic links with allowSymlinks', () => {
  it('a link inside the model is hashed under its own name with its target content', async () => {
    const { model } = setup();
    symlinkSync('weights.bin', join(model, 'alias.bin'));
    symlinkSync('sub', join(model, 'sub-link'));
    const manifest = await measurePath(model, { pool, allowSymlinks: true });
    assert.deepEqual(
      manifest.entries.map((e) => e.name),
      ['alias.bin', 'sub/inner.txt', 'sub-link/inner.txt', 'weights.bin'],
    );
    assert.equal(manifest.entries[0]!.digest, sha256sum(join(model, 'weights.bin')));
    assert.equal(manifest.allowSymlinks, true);
  });

  it('a link escaping the model (absolute or ../) is measure.symlink-escape', async () => {
    const { base, model } = setup();
    symlinkSync(join(base, 'outside.txt'), join(model, 'absolute'));
    await rejectsWith(measurePath(model, { pool, allowSymlinks: true }), 'measure.symlink-escape', /outside/);
    const second = setup();
    symlinkSync('../../outside.txt', join(second.model, 'sub', 'relative'));
    await rejectsWith(measurePath(second.model, { pool, allowSymlinks: true }), 'measure.symlink-escape');
  });

  it('a link to a directory outside, or through a chain that ends outside, escapes', async () => {
    const { base, model } = setup();
    mkdirSync(join(base, 'elsewhere'));
    symlinkSync('inner-hop', join(model, 'chain'));
    symlinkSync(join(base, 'elsewhere'), join(model, 'inner-hop'));
    await rejectsWith(measurePath(model, { pool, allowSymlinks: true }), 'measure.symlink-escape');
  });

  it('a link to the model root or an ancestor is measure.symlink-cycle', async () => {
    const { model } = setup();
    symlinkSync('..', join(model, 'sub', 'up'));
    await rejectsWith(measurePath(model, { pool, allowSymlinks: true }), 'measure.symlink-cycle');
  });

  it('a dangling link is measure.symlink-broken', async () => {
    const { model } = setup();
    symlinkSync('missing.bin', join(model, 'dangling'));
    await rejectsWith(measurePath(model, { pool, allowSymlinks: true }), 'measure.symlink-broken');
  });

  it('a model path that is a link is followed', async () => {
    const { base, model } = setup();
    symlinkSync(model, join(base, 'model-link'));
    const viaLink = await measurePath(join(base, 'model-link'), { pool, allowSymlinks: true });
    const direct = await measurePath(model, { pool });
    assert.equal(viaLink.rootDigest, direct.rootDigest);
  });
});

describe('special files', () => {
  it('a named pipe is measure.not-regular-file (and is never opened, which would hang)', async () => {
    const { model } = setup();
    execFileSync('mkfifo', [join(model, 'pipe')]);
    await rejectsWith(measurePath(model, { pool }), 'measure.not-regular-file');
  });

  it('a device given as the model path is measure.not-regular-file', async () => {
    await rejectsWith(measurePath('/dev/null', { pool }), 'measure.not-regular-file');
  });
});
