import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, closeSync, ftruncateSync, openSync, statSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AicertError } from '../../src/errors.js';
import { fileVersionOf } from '../../src/measure/file-version.js';
import { HashPool, type HashTask } from '../../src/measure/hash-pool.js';
import { b3sum, opensslRange, scratchDir, sha256sum, writeTree } from './helpers.js';

const dir = scratchDir('pool');
// A small read buffer makes every file below span many reads.
const pool = new HashPool({ workers: 2, readBufferSize: 4096 });
after(() => pool.close());

function whole(path: string, algorithm: HashTask['algorithm'] = 'sha256'): HashTask {
  return { path, start: 0, end: statSync(path).size, algorithm };
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof AicertError, `expected an AicertError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

describe('HashPool digests equal the reference tools', () => {
  const files: Record<string, Buffer> = {
    empty: Buffer.alloc(0),
    small: Buffer.from('hello world\n'),
    'one-buffer': Buffer.alloc(4096, 0x61),
    'multi-buffer': Buffer.from(Array.from({ length: 3 * 4096 + 17 }, (_, i) => (i * 7919) % 251)),
  };
  writeTree(dir, files);

  for (const name of Object.keys(files)) {
    it(`sha256 of ${name} equals sha256sum`, async () => {
      const path = join(dir, name);
      assert.equal((await pool.hash(whole(path))).toString('hex'), sha256sum(path));
    });
    it(`blake3 of ${name} equals b3sum`, async () => {
      const path = join(dir, name);
      assert.equal((await pool.hash(whole(path, 'blake3'))).toString('hex'), b3sum(path));
    });
  }

  it('sha384 and sha512 equal openssl', async () => {
    const path = join(dir, 'multi-buffer');
    const size = statSync(path).size;
    assert.equal((await pool.hash(whole(path, 'sha384'))).toString('hex'), opensslRange(path, 0, size, 'sha384'));
    assert.equal((await pool.hash(whole(path, 'sha512'))).toString('hex'), opensslRange(path, 0, size, 'sha512'));
  });

  it('byte ranges at unaligned offsets equal openssl over the same bytes', async () => {
    const path = join(dir, 'multi-buffer');
    const ranges: Array<[number, number]> = [
      [0, 1],
      [1, 4097],
      [4095, 4096],
      [5000, 3 * 4096 + 17],
      [100, 100],
    ];
    const digests = await pool.hashAll(ranges.map(([start, end]) => ({ path, start, end, algorithm: 'sha256' })));
    for (const [i, [start, end]] of ranges.entries()) {
      assert.equal(digests[i]!.toString('hex'), opensslRange(path, start, end), `[${start}, ${end})`);
    }
  });

  it('one call may mix algorithms of different digest sizes', async () => {
    const path = join(dir, 'multi-buffer');
    const algorithms = ['sha512', 'sha256', 'blake3', 'sha384', 'sha256'] as const;
    const digests = await pool.hashAll(algorithms.map((algorithm) => whole(path, algorithm)));
    const size = statSync(path).size;
    algorithms.forEach((algorithm, i) => {
      const expected = algorithm === 'blake3' ? b3sum(path) : opensslRange(path, 0, size, algorithm);
      assert.equal(digests[i]!.toString('hex'), expected, algorithm);
    });
  });

  it('hashAll returns digests in task order, whatever order workers finish in', async () => {
    const names = Object.keys(files);
    const tasks = [...names, ...names.reverse()].map((name) => whole(join(dir, name)));
    const digests = await pool.hashAll(tasks);
    for (const [i, task] of tasks.entries()) assert.equal(digests[i]!.toString('hex'), sha256sum(task.path));
  });
});

describe('HashPool failures', () => {
  it('a missing file is measure.file-missing', async () => {
    await rejectsWith(
      pool.hash({ path: join(dir, 'nope'), start: 0, end: 0, algorithm: 'sha256' }),
      'measure.file-missing',
    );
  });

  it('a directory is measure.not-a-file', async () => {
    await rejectsWith(pool.hash({ path: dir, start: 0, end: 0, algorithm: 'sha256' }), 'measure.not-a-file');
  });

  it('a named pipe is measure.not-a-file, without hanging on open', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await rejectsWith(pool.hash({ path: fifo, start: 0, end: 0, algorithm: 'sha256' }), 'measure.not-a-file');
  });

  it('a range past the end of the file is measure.range-outside-file', async () => {
    const path = join(dir, 'small');
    await rejectsWith(pool.hash({ path, start: 0, end: 1000, algorithm: 'sha256' }), 'measure.range-outside-file');
  });

  it('a malformed range or algorithm is refused before any work', async () => {
    const path = join(dir, 'small');
    await rejectsWith(pool.hash({ path, start: 5, end: 2, algorithm: 'sha256' }), 'measure.bad-range');
    await rejectsWith(pool.hash({ path, start: -1, end: 2, algorithm: 'sha256' }), 'measure.bad-range');
    await rejectsWith(pool.hash({ path, start: 0.5, end: 2, algorithm: 'sha256' }), 'measure.bad-range');
    await rejectsWith(
      pool.hash({ path, start: 0, end: 2, algorithm: 'md5' as HashTask['algorithm'] }),
      'measure.bad-algorithm',
    );
  });

  it('a file whose size differs from the expected size is measure.file-changed', async () => {
    const path = join(dir, 'small');
    const task = { ...whole(path), expectedSize: 3 };
    await rejectsWith(pool.hash(task), 'measure.file-changed');
  });

  it('a file whose version (mtime, ctime, inode, device) differs from the expected one is measure.file-changed', async () => {
    const path = join(dir, 'small');
    const listed = fileVersionOf(statSync(path));
    await pool.hash({ ...whole(path), expectedVersion: listed }); // unchanged: fine
    for (const field of ['mtimeMs', 'ctimeMs', 'ino', 'dev'] as const) {
      const other = { ...listed, [field]: listed[field] - 1 };
      await rejectsWith(pool.hash({ ...whole(path), expectedVersion: other }), 'measure.file-changed');
    }
  });

  /**
   * Hashes a 64 MiB sparse file 4 KiB at a time (slow enough) and applies `change` once the
   * worker has reported its first progress, i.e. while the file is open and half read.
   */
  function changeWhileHashing(name: string, change: (path: string) => void): Promise<Buffer[]> {
    const path = join(dir, name);
    const fd = openSync(path, 'w');
    ftruncateSync(fd, 64 * 2 ** 20);
    closeSync(fd);
    let changed = false;
    return pool.hashAll([whole(path)], () => {
      if (changed) return;
      changed = true;
      change(path);
    });
  }

  it('a file appended to while it is hashed is measure.file-changed, not a wrong digest', async () => {
    await rejectsWith(
      changeWhileHashing('grows', (path) => appendFileSync(path, 'more')),
      'measure.file-changed',
    );
  });

  it('a file truncated while it is hashed is measure.file-changed', async () => {
    await rejectsWith(
      changeWhileHashing('shrinks', (path) => truncateSync(path, 2 ** 20)),
      'measure.file-changed',
    );
  });

  it('a file rewritten in place (same size) while it is hashed is measure.file-changed', async () => {
    const rewriteFirstByte = (path: string) => {
      const fd = openSync(path, 'r+');
      writeSync(fd, Buffer.from('x'), 0, 1, 0);
      closeSync(fd);
    };
    await rejectsWith(changeWhileHashing('rewritten', rewriteFirstByte), 'measure.file-changed');
  });

  it('one failing task rejects hashAll; the pool stays usable', async () => {
    const good = whole(join(dir, 'small'));
    await rejectsWith(pool.hashAll([good, { ...good, path: join(dir, 'nope') }, good]), 'measure.file-missing');
    assert.equal((await pool.hash(good)).toString('hex'), sha256sum(good.path));
  });
});

describe('HashPool lifecycle', () => {
  it('reports progress up to the total number of bytes', async () => {
    const path = join(dir, 'multi-buffer');
    const seen: number[] = [];
    await pool.hashAll([whole(path), whole(path)], (done) => seen.push(done));
    assert.equal(seen.at(-1), 2 * statSync(path).size);
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      seen,
      'progress only grows',
    );
  });

  it('batches 5,000 tiny tasks and returns every digest', async () => {
    const path = join(dir, 'small');
    const digests = await pool.hashAll(Array.from({ length: 5000 }, () => whole(path)));
    const expected = sha256sum(path);
    assert.equal(digests.length, 5000);
    assert.ok(digests.every((d) => d.toString('hex') === expected));
  });

  it('rejects work after close, and rejects work pending at close', async () => {
    const closing = new HashPool({ workers: 1, readBufferSize: 4096 });
    const path = slowPath();
    const pending = rejectsWith(closing.hash(whole(path)), 'measure.pool-closed');
    await closing.close();
    await pending;
    await rejectsWith(closing.hash(whole(join(dir, 'small'))), 'measure.pool-closed');
  });

  it('refuses a read buffer that is not a multiple of 4096', () => {
    assert.throws(() => new HashPool({ readBufferSize: 5000 }), /multiple of 4096/);
    assert.throws(() => new HashPool({ workers: 0 }), /positive integer/);
  });

  it('an idle, unclosed pool does not keep the process alive', async () => {
    const { spawnSync } = await import('node:child_process');
    const module = new URL('../../src/measure/hash-pool.js', import.meta.url).href;
    // Two workers, one task: the second worker never works and must not hold the process either.
    const script = `import { HashPool } from ${JSON.stringify(module)};
      const pool = new HashPool({ workers: 2 });
      await pool.hash({ path: ${JSON.stringify(join(dir, 'small'))}, start: 0, end: 3, algorithm: 'sha256' });
      console.log('hashed');`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), 'hashed');
  });
});

function slowPath(): string {
  const path = join(dir, 'slow-close');
  const fd = openSync(path, 'w');
  ftruncateSync(fd, 64 * 2 ** 20);
  closeSync(fd);
  return path;
}
