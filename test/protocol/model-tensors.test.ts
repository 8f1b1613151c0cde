import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HashPool } from '../../src/measure/hash-pool.js';
import {
  finalModelProblem,
  measureCheckpointWeights,
  measureModelTensors,
  tensorSetDigest,
} from '../../src/protocol/model-tensors.js';
import type { ArtifactEvent, CheckpointEvent, ModelTensor } from '../../src/protocol/run-events.js';
import { weightsOf, writeCheckpointFile, type Checkpoint } from '../../src/trainer/checkpoint.js';

const HEX = (c: string) => c.repeat(64);

function checkpoint(w: number[], momentum: number[]): Checkpoint {
  return new Map([
    ['dense/kernel', { dtype: 'F32', shape: [w.length], data: Float32Array.from(w) }],
    ['dense/bias', { dtype: 'F32', shape: [1], data: Float32Array.of(0.5) }],
    ['optimizer/dense/kernel', { dtype: 'F32', shape: [momentum.length], data: Float32Array.from(momentum) }],
  ]);
}

function tensors(...list: Array<[string, string]>): ModelTensor[] {
  return list.map(([name, sha256]) => ({ file: 'model.safetensors', name, dtype: 'F32', shape: [2], sha256 }));
}

function output(t?: ModelTensor[]): ArtifactEvent {
  return {
    type: 'output',
    role: 'model',
    name: 'model',
    digest: { sha256: HEX('1') },
    files: 1,
    bytes: 10,
    ...(t && { tensors: t }),
  };
}

function last(t: ModelTensor[], index = 3): CheckpointEvent {
  return {
    type: 'checkpoint',
    index,
    sha256: HEX('9'),
    bytes: 100,
    weights: { tensors: t.length, sha256: tensorSetDigest(t) },
  };
}

test('the tensor-set digest ignores order and files, and changes with any name, dtype, shape or byte digest', () => {
  const a = tensors(['w', HEX('a')], ['b', HEX('b')]);
  const digest = tensorSetDigest(a);
  assert.equal(tensorSetDigest([a[1]!, { ...a[0]!, file: 'shard-2.safetensors' }]), digest);
  for (const changed of [{ name: 'w2' }, { dtype: 'F16' }, { shape: [1, 2] }, { sha256: HEX('c') }]) {
    assert.notEqual(tensorSetDigest([{ ...a[0]!, ...changed }, a[1]!]), digest, JSON.stringify(changed));
  }
  assert.notEqual(tensorSetDigest(a.slice(0, 1)), digest, 'a tensor left out');
  assert.throws(() => tensorSetDigest([a[0]!, a[0]!]), { code: 'model-tensors.duplicate' });
});

test("finalModelProblem: none when the model is exactly the last checkpoint's weights", () => {
  const model = tensors(['w', HEX('a')], ['b', HEX('b')]);
  assert.equal(finalModelProblem([last(tensors(['w', HEX('0')]), 2), last(model)], [output(model)]), undefined);
});

test('finalModelProblem fails closed: another tensor, an extra optimizer tensor, no digests, no checkpoint, two models', () => {
  const model = tensors(['w', HEX('a')], ['b', HEX('b')]);
  const cases: Array<[string, CheckpointEvent[], ArtifactEvent[], RegExp]> = [
    [
      'one tensor changed',
      [last(model)],
      [output(tensors(['w', HEX('a')], ['b', HEX('c')]))],
      /is not the weights of the last checkpoint 3 \(2 tensors/,
    ],
    [
      'a tensor an earlier checkpoint had',
      [last(model), last(tensors(['w', HEX('a')]), 4)],
      [output(model)],
      /last checkpoint 4/,
    ],
    [
      'optimizer state shipped too',
      [last(model)],
      [output([...model, ...tensors(['optimizer/w', HEX('d')])])],
      /1 optimizer tensors, which the final model must leave out/,
    ],
    [
      'no per-tensor digests of the output',
      [last(model)],
      [output()],
      /no per-tensor digests of the output model model/,
    ],
    [
      'no weights digest of the checkpoint',
      [{ ...last(model), weights: undefined }],
      [output(model)],
      /no digest of checkpoint 3's weights/,
    ],
    ['no checkpoint', [], [output(model)], /no checkpoint was measured/],
    ['two model outputs', [last(model)], [output(model), output(model)], /2 model outputs/],
    ['a name twice in the output', [last(model)], [output([...model, model[0]!])], /appears twice/],
  ];
  for (const [what, checkpoints, outputs, reason] of cases)
    assert.match(finalModelProblem(checkpoints, outputs) ?? 'no problem', reason, what);
});

describe('measuring checkpoint weights and model tensors from files', () => {
  let work: string;
  const pool = new HashPool({ workers: 1 });
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-model-tensors-'));
  });
  after(async () => {
    await pool.close();
    await rm(work, { recursive: true, force: true });
  });

  test("a model written from a checkpoint's weights has the digest measured for the checkpoint; another model has not", async () => {
    const c = checkpoint([1, 2, 3], [0.1, 0.2, 0.3]);
    const path = join(work, 'c.safetensors');
    await writeCheckpointFile(path, c);
    const { size } = await stat(path);
    const weights = await measureCheckpointWeights(path, size, pool);
    assert.equal(weights.tensors, 2, 'optimizer state is not a weight');

    const model = join(work, 'model');
    await mkdir(model);
    await writeCheckpointFile(join(model, 'model.safetensors'), weightsOf(c));
    const measured = await measureModelTensors(model, pool);
    assert.ok('tensors' in measured);
    assert.deepEqual(measured.tensors.map((t) => [t.file, t.name, t.dtype, t.shape]).sort(), [
      ['model.safetensors', 'dense/bias', 'F32', [1]],
      ['model.safetensors', 'dense/kernel', 'F32', [3]],
    ]);
    assert.equal(tensorSetDigest(measured.tensors), weights.sha256);

    await writeCheckpointFile(
      join(model, 'model.safetensors'),
      weightsOf(checkpoint([1, 2, 3.0000002], [0.1, 0.2, 0.3])),
    );
    const other = await measureModelTensors(model, pool);
    assert.ok('tensors' in other);
    assert.notEqual(tensorSetDigest(other.tensors), weights.sha256, 'one float one ulp away');
  });

  test('a model that cannot be compared says why: another format, no model file, a broken header', async () => {
    const dir = join(work, 'not-comparable');
    await mkdir(dir);
    await writeFile(join(dir, 'model.json'), '{}');
    assert.match(
      ((await measureModelTensors(dir, pool)) as { unavailable: string }).unavailable,
      /cannot be read .*no model file/,
    );
    await writeFile(join(dir, 'model.safetensors'), Buffer.from('not a safetensors file'));
    assert.match(
      ((await measureModelTensors(dir, pool)) as { unavailable: string }).unavailable,
      /cannot be read .*model\.safetensors/,
    );
    await rm(join(dir, 'model.safetensors'));
    await writeFile(join(dir, 'model.gguf'), ggufWithoutTensors());
    assert.match(
      ((await measureModelTensors(dir, pool)) as { unavailable: string }).unavailable,
      /a gguf model \(model\.gguf\); only safetensors/,
    );
  });
});

/** A GGUF v3 file with no tensors and no metadata: magic, version, tensor count 0, key/value count 0. */
function ggufWithoutTensors(): Buffer {
  const b = Buffer.alloc(24);
  b.write('GGUF', 0, 'latin1');
  b.writeUInt32LE(3, 4);
  return b;
}
