import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { AicertError } from '../../../src/errors.js';
import { describeModel } from '../../../src/measure/formats/describe.js';
import { runCli, scratchDir, writeTree } from '../helpers.js';
import { ggufFile, onnxModel, safetensorsFile, safetensorsOf } from './builders.js';

const root = scratchDir('describe');

/** A model directory with a sharded safetensors model, a GGUF file and an ONNX model with external data. */
function mixedModel(name: string): string {
  const dir = join(root, name);
  writeTree(dir, {
    'model-00001-of-00002.safetensors': safetensorsOf([
      { name: 'a', dtype: 'BF16', shape: [2, 3], data: randomBytes(12) },
    ]),
    'model-00002-of-00002.safetensors': safetensorsOf([{ name: 'b', dtype: 'BF16', shape: [4], data: randomBytes(8) }]),
    'model.safetensors.index.json': JSON.stringify({
      metadata: { total_size: 20 },
      weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' },
    }),
    'gguf/tiny.gguf': ggufFile({
      kv: [['general.architecture', { type: 'string', value: 'llama' }]],
      tensors: [{ name: 'tok', dims: [2, 2], type: 0, data: randomBytes(16) }],
    }),
    'onnx/model.onnx': onnxModel([{ name: 'w', dims: [3], dataType: 1, external: [['location', 'w.bin']] }]),
    'onnx/w.bin': randomBytes(12),
    'README.md': '# not a model file\n',
  });
  return dir;
}

describe('describeModel', () => {
  it('describes every model in a directory, shards through their index, with totals by dtype', async () => {
    const description = await describeModel(mixedModel('mixed'));
    assert.deepEqual(
      description.components.map((c) => [c.format, c.entry, c.files.map((f) => f.name)]),
      [
        ['gguf', 'gguf/tiny.gguf', ['gguf/tiny.gguf']],
        [
          'safetensors-sharded',
          'model.safetensors.index.json',
          ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json'],
        ],
        ['onnx', 'onnx/model.onnx', ['onnx/model.onnx', 'onnx/w.bin']],
      ],
    );
    const tensors = description.components.flatMap((c) =>
      c.tensors.map((t) => [t.name, t.dtype, t.parameters, t.location?.file]),
    );
    assert.deepEqual(tensors, [
      ['tok', 'F32', 4, 'gguf/tiny.gguf'],
      ['a', 'BF16', 6, 'model-00001-of-00002.safetensors'],
      ['b', 'BF16', 4, 'model-00002-of-00002.safetensors'],
      ['w', 'FLOAT', 3, 'onnx/w.bin'],
    ]);
    assert.deepEqual(description.totals, {
      tensors: 4,
      parameters: 17,
      bytes: 16 + 12 + 8 + 12,
      byDtype: {
        F32: { tensors: 1, parameters: 4, bytes: 16 },
        BF16: { tensors: 2, parameters: 10, bytes: 20 },
        FLOAT: { tensors: 1, parameters: 3, bytes: 12 },
      },
    });
  });

  it('describes a single model file, and refuses files and directories it does not understand', async () => {
    const dir = mixedModel('single');
    const one = await describeModel(join(dir, 'model-00002-of-00002.safetensors'));
    assert.deepEqual(
      one.components.map((c) => [c.format, c.entry, c.tensors.length]),
      [['safetensors', 'model-00002-of-00002.safetensors', 1]],
    );
    assert.equal(one.root, dir);
    const code = async (path: string) =>
      describeModel(path).then(
        () => 'ok',
        (e: AicertError) => e.code,
      );
    assert.equal(await code(join(dir, 'README.md')), 'describe.no-model-files');
    mkdirSync(join(root, 'empty'));
    assert.equal(await code(join(root, 'empty')), 'describe.no-model-files');
    assert.equal(await code(join(root, 'missing')), 'measure.not-found');
  });
});

describe('aicert measure --describe', () => {
  it('prints the manifest, then tensors, parameters and dtypes', async () => {
    const dir = mixedModel('cli');
    const result = await runCli(['measure', dir, '--describe']);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /root sha256:[0-9a-f]{64}/);
    assert.match(result.stdout, /model\.safetensors\.index\.json: safetensors-sharded, 2 tensors, 10 parameters/);
    assert.match(result.stdout, /^ {2}a +BF16 +\[2, 3\] +6$/m);
    assert.match(result.stdout, /total: 4 tensors, 17 parameters/);
    assert.match(result.stdout, /^ {2}BF16 +2 +10 +20 B$/m);
    assert.match(result.stdout, /gguf\/tiny\.gguf: gguf, 1 tensor, 4 parameters, 1 file,/);
  });

  it('adds the description to --json output', async () => {
    const result = await runCli(['measure', mixedModel('json'), '--describe', '--json']);
    assert.equal(result.status, 0, result.stderr);
    const [measured] = JSON.parse(result.stdout);
    assert.match(measured.rootDigest, /^[0-9a-f]{64}$/);
    assert.equal(measured.description.totals.parameters, 17);
    assert.equal(measured.description.components.length, 3);
  });

  it('fails with exit 2 and nothing on stdout for a corrupt header or a missing shard', async () => {
    const corrupt = join(root, 'corrupt');
    writeTree(corrupt, { 'model.safetensors': safetensorsFile('{}', Buffer.alloc(0), 1n << 63n) });
    const bad = await runCli(['measure', corrupt, '--describe']);
    assert.equal(bad.status, 2);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /\[safetensors\.header-too-large\]/);

    const missing = mixedModel('missing-shard');
    writeFileSync(
      join(missing, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { a: 'model-00003-of-00003.safetensors' } }),
    );
    const result = await runCli(['measure', missing, '--describe', '--json']);
    assert.equal(result.status, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /\[safetensors-index\.missing-file\]/);
  });

  it('shows control characters in tensor names escaped, not raw', async () => {
    const dir = join(root, 'escapes');
    writeTree(dir, {
      'm.safetensors': safetensorsOf([{ name: 'evil\u001b[2Jname', dtype: 'U8', shape: [1], data: Buffer.alloc(1) }]),
    });
    const result = await runCli(['measure', dir, '--describe']);
    assert.equal(result.status, 0, result.stderr);
    assert.ok(!result.stdout.includes('\u001b'));
    assert.match(result.stdout, /"evil\\u001b\[2Jname"/);
  });
});
