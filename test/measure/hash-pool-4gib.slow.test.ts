import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HashPool } from '../../src/measure/hash-pool.js';
import { opensslAsync, opensslRange, scratchDir } from './helpers.js';

/**
 * Offsets past 32 bits. Slow, not a unit test: openssl and the pool each hash 4 GiB (about 6 s of
 * CPU on two cores), more than the rest of hash-pool.test.ts together.
 */
const dir = scratchDir('pool-4gib');
// A small read buffer for the range below, as in hash-pool.test.ts.
const pool = new HashPool({ workers: 2, readBufferSize: 4096 });
after(() => pool.close());

describe('HashPool beyond 4 GiB', () => {
  it('a file over 4 GiB (sparse) equals openssl, and ranges beyond 4 GiB read the right bytes', async () => {
    const path = join(dir, 'sparse-over-4gib');
    const size = 2 ** 32 + 2 ** 20 + 7;
    const fd = openSync(path, 'w');
    ftruncateSync(fd, size);
    for (const position of [0, 2 ** 32 - 3, 2 ** 32 + 12345, size - 5])
      writeSync(fd, Buffer.from('mark!'), 0, 5, position);
    closeSync(fd);
    const bigPool = new HashPool({ workers: 1 }); // default buffer: this is a speed-sensitive 4 GiB
    try {
      const [ours, reference] = await Promise.all([
        bigPool.hash({ path, start: 0, end: size, algorithm: 'sha256' }),
        opensslAsync(path),
      ]);
      assert.equal(ours.toString('hex'), reference);
      const start = 2 ** 32 - 4096;
      const range = await pool.hash({ path, start, end: size, algorithm: 'sha256' });
      assert.equal(range.toString('hex'), opensslRange(path, start, size));
    } finally {
      await bigPool.close();
    }
  });
});
