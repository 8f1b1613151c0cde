import assert from 'node:assert/strict';
import { chmodSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { b3sum, runCli, scratchDir, sha256sum, writeTree } from './helpers.js';
import { safetensorsFile, safetensorsOf } from './formats/builders.js';

const CLI_PATH = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

const root = scratchDir('cli');
writeTree(root, {
  'model/config.json': '{"dim": 8}\n',
  'model/weights.bin': Buffer.alloc(70_000, 3),
  'model/notes/README.md': 'notes\n',
  'model/.gitattributes': '*.bin filter=lfs\n',
  'other/data.txt': 'data\n',
});
const model = join(root, 'model');

interface JsonManifest {
  path: string;
  method: string;
  hashAlgorithm: string;
  shardSize?: number;
  entries: Array<{ name: string; digest: string; size: number }>;
  rootDigest: string;
  ignorePaths: string[];
}

function parse(stdout: string): JsonManifest[] {
  return JSON.parse(stdout) as JsonManifest[];
}

describe('aicert measure', () => {
  it('--json prints only JSON: one manifest per PATH with sha256sum digests; nothing on stderr', async () => {
    const result = await runCli(['measure', model, join(root, 'other'), '--json']);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, '');
    const [first, second] = parse(result.stdout);
    assert.equal(first!.path, model);
    assert.deepEqual(
      first!.entries.map((e) => e.name),
      ['config.json', 'notes/README.md', 'weights.bin'],
    );
    for (const entry of first!.entries) assert.equal(entry.digest, sha256sum(join(model, entry.name)));
    assert.match(first!.rootDigest, /^[0-9a-f]{64}$/);
    assert.deepEqual(
      second!.entries.map((e) => e.name),
      ['data.txt'],
    );
  });

  it('human output lists "digest  name" lines and the root', async () => {
    const result = await runCli(['measure', model]);
    assert.equal(result.status, 0, result.stderr);
    const json = parse((await runCli(['measure', model, '--json'])).stdout)[0]!;
    const lines = result.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /model: 3 entries, .*files, sha256$/);
    assert.deepEqual(
      lines.slice(1, 4),
      json.entries.map((e) => `${e.digest}  ${e.name}`),
    );
    assert.equal(lines[4], `root sha256:${json.rootDigest}`);
  });

  it('--hash blake3 gives b3sum digests', async () => {
    const result = await runCli(['measure', model, '--json', '--hash', 'blake3']);
    assert.equal(result.status, 0, result.stderr);
    const manifest = parse(result.stdout)[0]!;
    assert.equal(manifest.hashAlgorithm, 'blake3');
    for (const entry of manifest.entries) assert.equal(entry.digest, b3sum(join(model, entry.name)));
  });

  it('--shard-size selects shards and accepts units', async () => {
    const result = await runCli(['measure', join(model, 'weights.bin'), '--json', '--shard-size', '32KiB']);
    assert.equal(result.status, 0, result.stderr);
    const manifest = parse(result.stdout)[0]!;
    assert.equal(manifest.method, 'shards');
    assert.equal(manifest.shardSize, 32_768);
    assert.deepEqual(
      manifest.entries.map((e) => e.name),
      ['.:0:32768', '.:32768:65536', '.:65536:70000'],
    );
  });

  it('--ignore takes paths relative to the current directory; --no-ignore-git-paths keeps git files', async () => {
    const result = await runCli(['measure', 'model', '--json', '--ignore', 'model/notes', '--no-ignore-git-paths'], {
      cwd: root,
    });
    assert.equal(result.status, 0, result.stderr);
    const manifest = parse(result.stdout)[0]!;
    assert.deepEqual(
      manifest.entries.map((e) => e.name),
      ['.gitattributes', 'config.json', 'weights.bin'],
    );
    assert.deepEqual(manifest.ignorePaths, ['notes']);
  });

  for (const [label, args, code] of [
    ['a missing PATH', ['measure', join(root, 'missing')], 'measure.not-found'],
    ['an --ignore outside every PATH', ['measure', model, '--ignore', join(root, 'other')], 'measure.ignore-outside'],
    ['a bad --shard-size', ['measure', model, '--shard-size', '12 parsecs'], 'measure.bad-shard-size'],
    ['a zero --shard-size', ['measure', model, '--shard-size', '0'], 'measure.bad-shard-size'],
  ] as const) {
    it(`${label}: exit 2, the error code on stderr, nothing on stdout`, async () => {
      const result = await runCli([...args, '--json']);
      assert.equal(result.status, 2);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, new RegExp(`\\[${code.replace('.', '\\.')}\\]`));
    });
  }

  describe('model files are parsed before anything is hashed', () => {
    const tensor = { name: 'w', dtype: 'F32', shape: [2], data: Buffer.alloc(8, 1) };
    const good = safetensorsOf([tensor]);
    const header = JSON.stringify({
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    });
    const index = JSON.stringify({
      weight_map: { w: 'model-00001-of-00002.safetensors', v: 'model-00002-of-00002.safetensors' },
    });
    for (const [label, files, code] of [
      [
        'a safetensors header length of 2^63',
        { 'model.safetensors': safetensorsFile('{}', Buffer.alloc(0), 2n ** 63n) },
        'safetensors.header-too-large',
      ],
      [
        'overlapping tensor offsets',
        { 'model.safetensors': safetensorsFile(header, Buffer.alloc(12)) },
        'safetensors.overlapping-tensors',
      ],
      [
        'a header that is not JSON',
        { 'model.safetensors': safetensorsFile('{"w": nope}', Buffer.alloc(0)) },
        'safetensors.header-not-json',
      ],
      [
        'a shard the index names but the directory lacks',
        { 'model.safetensors.index.json': index, 'model-00001-of-00002.safetensors': good },
        'safetensors-index.missing-file',
      ],
    ] as const) {
      it(`${label}: exit 2 with ${code}, nothing on stdout; --no-check-formats hashes the bytes anyway`, async () => {
        const dir = join(root, `formats-${code}-${label.length}`);
        writeTree(dir, { 'config.json': '{}', ...files });
        const refused = await runCli(['measure', dir, '--json']);
        assert.equal(refused.status, 2, refused.stderr);
        assert.equal(refused.stdout, '');
        assert.match(refused.stderr, new RegExp(`\\[${code.replace('.', '\\.')}\\]`));
        const hashed = await runCli(['measure', dir, '--json', '--no-check-formats']);
        assert.equal(hashed.status, 0, hashed.stderr);
        assert.equal(parse(hashed.stdout)[0]!.entries.length, Object.keys(files).length + 1);
      });
    }

    it('a well-formed model and a directory without model files both measure', async () => {
      const dir = join(root, 'formats-good');
      writeTree(dir, { 'model.safetensors': good, 'data/train.jsonl': '{"x": 1}\n' });
      for (const path of [dir, join(dir, 'data'), join(dir, 'model.safetensors')]) {
        const result = await runCli(['measure', path, '--json']);
        assert.equal(result.status, 0, result.stderr);
      }
    });

    it('a corrupt file left out by --ignore is neither parsed nor hashed', async () => {
      const dir = join(root, 'formats-ignored');
      writeTree(dir, {
        'model.safetensors': good,
        'old/broken.safetensors': safetensorsFile('not json', Buffer.alloc(0)),
      });
      const result = await runCli(['measure', dir, '--json', '--ignore', join(dir, 'old')]);
      assert.equal(result.status, 0, result.stderr);
      assert.deepEqual(
        parse(result.stdout)[0]!.entries.map((e) => e.name),
        ['model.safetensors'],
      );
    });
  });

  it('an unknown --hash is a usage error (exit 2)', async () => {
    const result = await runCli(['measure', model, '--hash', 'md5']);
    assert.equal(result.status, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /md5/);
  });

  it('a failure in a later PATH leaves no partial output for the earlier ones', async () => {
    const broken = join(root, 'broken');
    writeTree(broken, { 'ok.txt': 'ok' });
    symlinkSync('ok.txt', join(broken, 'link'));
    for (const json of [[], ['--json']]) {
      const result = await runCli(['measure', model, broken, ...json]);
      assert.equal(result.status, 2);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /link.*symbolic link.*\[measure\.symlink\]/);
    }
    const allowed = await runCli(['measure', broken, '--json', '--allow-symlinks']);
    assert.equal(allowed.status, 0, allowed.stderr);
    assert.deepEqual(
      parse(allowed.stdout)[0]!.entries.map((e) => e.name),
      ['link', 'ok.txt'],
    );
  });

  // Root reads everything, so as root the CLI runs as "nobody" — which needs the checkout to be
  // reachable by others (a clone under a 0700 temp dir is not).
  const nobodyReachesCli =
    process.getuid?.() !== 0 ||
    spawnSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(CLI_PATH)})`], {
      uid: 65534,
      gid: 65534,
    }).status === 0;
  it('an unreadable file: exit 2, measure.unreadable, nothing on stdout', {
    skip: !nobodyReachesCli && 'running as root in a checkout the user nobody cannot reach',
  }, async () => {
    const locked = join(root, 'locked');
    writeTree(locked, { 'open.txt': 'x', 'secret.bin': 'y' });
    // root reads everything, so then run the CLI as "nobody" against a file only root may read.
    const asRoot = process.getuid?.() === 0;
    chmodSync(join(locked, 'secret.bin'), asRoot ? 0o600 : 0o000);
    chmodSync(root, 0o755);
    const result = await runCli(['measure', locked, '--json'], asRoot ? { uid: 65534, gid: 65534, cwd: '/' } : {});
    assert.equal(result.status, 2, result.stderr);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /secret\.bin: permission denied \[measure\.unreadable\]/);
  });
});
