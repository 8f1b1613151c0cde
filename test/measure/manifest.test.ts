import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import { AicertError } from '../../src/errors.js';
import { HashPool } from '../../src/measure/hash-pool.js';
import {
  compareNames,
  measurePath,
  normalizeIgnorePath,
  rootDigestOf,
  type Manifest,
} from '../../src/measure/manifest.js';
import { REFERENCE as OMS_VECTORS } from '../cert/oms-fixtures.js';
import { b3sum, opensslRange, scratchDir, sha256sum, writeTree } from './helpers.js';

const pool = new HashPool({ workers: 2 });
after(() => pool.close());

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof AicertError, `expected an AicertError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

function names(manifest: Manifest): string[] {
  return manifest.entries.map((entry) => entry.name);
}

describe('files method', () => {
  const root = scratchDir('manifest');
  writeTree(root, {
    'config.json': '{"a":1}\n',
    'weights/part-1.bin': Buffer.alloc(300_000, 1),
    'weights/part-2.bin': Buffer.alloc(10, 2),
    'empty.txt': '',
    'sub/.git': 'not top-level: kept',
    '.git/HEAD': 'ref: refs/heads/main\n',
    '.gitattributes': '*.bin filter=lfs\n',
    '.github/workflows/ci.yml': 'on: push\n',
    '.gitignore': 'node_modules\n',
    'README.md': '# model\n',
  });

  it('gives each file its sha256sum digest and size, sorted by path', async () => {
    const manifest = await measurePath(root, { pool });
    assert.equal(manifest.method, 'files');
    assert.equal(manifest.hashAlgorithm, 'sha256');
    assert.deepEqual(names(manifest), [
      'README.md',
      'config.json',
      'empty.txt',
      'sub/.git',
      'weights/part-1.bin',
      'weights/part-2.bin',
    ]);
    for (const entry of manifest.entries) {
      const path = join(root, ...entry.name.split('/'));
      assert.equal(entry.digest, sha256sum(path), entry.name);
    }
    assert.equal(manifest.entries.find((e) => e.name === 'weights/part-1.bin')!.size, 300_000);
    assert.equal(manifest.entries.find((e) => e.name === 'empty.txt')!.digest, createHash('sha256').digest('hex'));
  });

  it('root digest is SHA-256 over the concatenated raw digests in manifest order', async () => {
    const manifest = await measurePath(root, { pool });
    const expected = createHash('sha256');
    for (const entry of manifest.entries) expected.update(Buffer.from(entry.digest, 'hex'));
    assert.equal(manifest.rootDigest, expected.digest('hex'));
    assert.equal(rootDigestOf(manifest.entries), manifest.rootDigest);
  });

  it('root digest stays SHA-256 with blake3 entries, which equal b3sum', async () => {
    const manifest = await measurePath(root, { pool, algorithm: 'blake3' });
    for (const entry of manifest.entries)
      assert.equal(entry.digest, b3sum(join(root, ...entry.name.split('/'))), entry.name);
    const expected = createHash('sha256');
    for (const entry of manifest.entries) expected.update(Buffer.from(entry.digest, 'hex'));
    assert.equal(manifest.rootDigest, expected.digest('hex'));
  });

  it('default ignores are top-level git paths only, and are recorded', async () => {
    const manifest = await measurePath(root, { pool });
    assert.deepEqual(manifest.ignorePaths, ['.git', '.gitattributes', '.github', '.gitignore']);
    assert.ok(names(manifest).includes('sub/.git'));
  });

  it('ignoreGitPaths: false includes the git paths', async () => {
    const manifest = await measurePath(root, { pool, ignoreGitPaths: false });
    for (const name of ['.git/HEAD', '.gitattributes', '.github/workflows/ci.yml', '.gitignore']) {
      assert.ok(names(manifest).includes(name), name);
    }
    assert.deepEqual(manifest.ignorePaths, []);
  });

  it('user ignores match exact relative paths and their subtrees, nothing else', async () => {
    const manifest = await measurePath(root, { pool, ignore: ['weights', './README.md', 'config'] });
    assert.deepEqual(names(manifest), ['config.json', 'empty.txt', 'sub/.git']);
    assert.deepEqual(manifest.ignorePaths, [
      '.git',
      '.gitattributes',
      '.github',
      '.gitignore',
      'README.md',
      'config',
      'weights',
    ]);
    const nested = await measurePath(root, { pool, ignore: ['weights/part-2.bin'] });
    assert.ok(names(nested).includes('weights/part-1.bin'));
    assert.ok(!names(nested).includes('weights/part-2.bin'));
  });

  it('refuses ignore paths that are absolute, climb out, or use globs', async () => {
    for (const bad of ['/etc', '../x', 'a/../../b', '*.bin', 'w?', '[ab]', '', '.', './']) {
      await rejectsWith(measurePath(root, { pool, ignore: [bad] }), 'measure.bad-ignore-path');
    }
  });

  it('refuses an empty model, and one whose files are all ignored', async () => {
    const empty = scratchDir('empty');
    await rejectsWith(measurePath(empty, { pool }), 'measure.empty');
    writeTree(empty, { '.gitignore': 'x' });
    await rejectsWith(measurePath(empty, { pool }), 'measure.empty');
  });

  it('a missing path is measure.not-found', async () => {
    await rejectsWith(measurePath(join(root, 'nope'), { pool }), 'measure.not-found');
  });

  it('works without a pool given (and closes the one it makes)', async () => {
    const manifest = await measurePath(join(root, 'config.json'));
    assert.equal(manifest.entries[0]!.digest, sha256sum(join(root, 'config.json')));
  });

  it('a file changed between listing and hashing is measure.file-changed', async () => {
    const dir = scratchDir('changed');
    writeTree(dir, { 'a.bin': 'original', 'b.bin': 'other' });
    let changed = false;
    const measuring = measurePath(dir, {
      pool,
      onProgress: () => {
        // The first call comes after the listing and before any hashing.
        if (changed) return;
        changed = true;
        writeFileSync(join(dir, 'a.bin'), 'modified!');
      },
    });
    await rejectsWith(measuring, 'measure.file-changed');
  });

  it('reports progress up to the total bytes', async () => {
    const seen: Array<[number, number]> = [];
    await measurePath(root, { pool, onProgress: (done, total) => seen.push([done, total]) });
    const total = 8 + 300_000 + 10 + 0 + 19 + 8;
    assert.deepEqual(seen.at(-1), [total, total]);
  });
});

describe('sort order', () => {
  it('follows the reference tool: path components, then code points', async () => {
    const root = scratchDir('order');
    const files = ['a/b', 'a-b/x', 'a.txt', 'a/a/z', 'B', 'b', 'é', 'z/😀', 'z/\uffff'];
    writeTree(root, Object.fromEntries(files.map((f) => [f, f])));
    const manifest = await measurePath(root, { pool });
    // Python: sorted(PurePosixPath(f) for f in files)
    assert.deepEqual(names(manifest), ['B', 'a/a/z', 'a/b', 'a-b/x', 'a.txt', 'b', 'z/\uffff', 'z/😀', 'é']);
  });

  it('compareNames equals a component-wise code-point comparison (property)', () => {
    const codePoints = (s: string) => [...s].map((c) => c.codePointAt(0)!);
    const compareArrays = (a: number[], b: number[]) => {
      for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
      return a.length - b.length;
    };
    const reference = (a: string, b: string) => {
      const pa = a.split('/');
      const pb = b.split('/');
      for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
        const c = compareArrays(codePoints(pa[i]!), codePoints(pb[i]!));
        if (c !== 0) return c;
      }
      return pa.length - pb.length;
    };
    const segment = fc.string({
      unit: fc.constantFrom('a', 'b', '-', '.', '_', 'é', '😀', '\uffff', '0', ' '),
      minLength: 1,
      maxLength: 4,
    });
    const name = fc.array(segment, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('/'));
    assertProperty(fc.property(name, name, (a, b) => Math.sign(compareNames(a, b)) === Math.sign(reference(a, b))));
  });
});

describe('shards method', () => {
  const root = scratchDir('shards');
  writeTree(root, {
    'big.bin': Buffer.from(Array.from({ length: 25_000 }, (_, i) => (i * 31) % 256)),
    'small.bin': Buffer.from('0123456789'),
    'exact.bin': Buffer.alloc(20_000, 7),
    'empty.bin': '',
  });

  it('names byte ranges path:start:end, digests equal openssl over each range, empty files have none', async () => {
    const manifest = await measurePath(root, { pool, shardSize: 10_000 });
    assert.equal(manifest.method, 'shards');
    assert.equal(manifest.shardSize, 10_000);
    assert.deepEqual(names(manifest), [
      'big.bin:0:10000',
      'big.bin:10000:20000',
      'big.bin:20000:25000',
      'exact.bin:0:10000',
      'exact.bin:10000:20000',
      'small.bin:0:10',
    ]);
    for (const entry of manifest.entries) {
      const match = /^(.*):(\d+):(\d+)$/.exec(entry.name)!;
      const [start, end] = [Number(match[2]), Number(match[3])];
      assert.equal(entry.size, end - start);
      assert.equal(entry.digest, opensslRange(join(root, match[1]!), start, end), entry.name);
    }
  });

  it('orders shards of one file by numeric offset, as the reference tool does', async () => {
    const manifest = await measurePath(join(root, 'big.bin'), { pool, shardSize: 1_000 });
    assert.deepEqual(names(manifest).slice(8, 12), ['.:8000:9000', '.:9000:10000', '.:10000:11000', '.:11000:12000']);
  });

  it('shards cover every file exactly once, end to end (property)', async () => {
    await assertProperty(
      fc.asyncProperty(fc.integer({ min: 1, max: 30_000 }), async (shardSize) => {
        const manifest = await measurePath(join(root, 'big.bin'), { pool, shardSize });
        let next = 0;
        for (const entry of manifest.entries) {
          const [, start, end] = /^\.:(\d+):(\d+)$/.exec(entry.name)!.map(Number) as [number, number, number];
          assert.equal(start, next);
          assert.ok(end - start <= shardSize && end > start);
          next = end;
        }
        assert.equal(next, 25_000);
      }),
      { numRuns: 25 },
    );
  });

  it('refuses a shard size that is not a positive whole number', async () => {
    for (const shardSize of [0, -1, 1.5, Number.NaN]) {
      await rejectsWith(measurePath(root, { pool, shardSize }), 'measure.bad-shard-size');
    }
  });
});

describe('OMS reference vectors', () => {
  it('single-file model: one entry named ".", root equal to the signed subject', async () => {
    const manifest = await measurePath(join(OMS_VECTORS, 'v1.0.0-elliptic-key', 'signme-1'), { pool });
    assert.deepEqual(manifest.entries, [
      { name: '.', digest: 'bc9a717db6064a32cbe9eae6fc40651dd6d36ef1757183f590eff2b1765d7ebc', size: 9 },
    ]);
    assert.equal(manifest.rootDigest, 'afa48c8674afe334b8a7dea34f7b46ab256e9255edf8da2132792341b667a45b');
  });

  for (const [vector, root] of [
    ['v1.0.1-elliptic-key', '92745110b1ab4368471cbe31664e10174e954b113a3df333db860317b2c6dec4'],
    ['v1.1.0-certificate', '61d4849d9d90076d6215f4d525f13d6574af8e3f67aef3e6f36fc40a14fdd226'],
  ] as const) {
    it(`${vector}: root equals the signed subject digest`, async () => {
      const manifest = await measurePath(join(OMS_VECTORS, vector), { pool, ignore: ['ignore-me', 'model.sig'] });
      assert.equal(manifest.rootDigest, root);
    });
  }
});

describe('file names', () => {
  it('refuses a name that is not valid UTF-8', async () => {
    const root = scratchDir('utf8');
    writeFileSync(Buffer.concat([Buffer.from(`${root}/`), Buffer.from([0x66, 0xff, 0x66])]), 'x');
    await rejectsWith(measurePath(root, { pool }), 'measure.bad-filename');
  });

  it('keeps names with colons, spaces and newlines intact', async () => {
    const root = scratchDir('names');
    mkdirSync(join(root, 'd'));
    writeTree(root, { 'a:1:2': 'x', 'with space': 'y', 'new\nline': 'z' });
    assert.deepEqual(names(await measurePath(root, { pool })), ['a:1:2', 'new\nline', 'with space']);
  });

  it('normalizeIgnorePath collapses ./, // and trailing /', () => {
    assert.equal(normalizeIgnorePath('./a//b/./c/'), 'a/b/c');
  });
});
