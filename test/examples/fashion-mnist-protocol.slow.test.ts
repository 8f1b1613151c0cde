import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initialWeights } from '../../examples/fashion-mnist/mlp.js';
import {
  batchSchedule,
  checkpointPath,
  encodeF32Safetensors,
  readBatches,
  readCheckpointFile,
  readTranscriptMeta,
  splitHoldout,
  type Checkpoint,
} from '../../src/trainer/index.js';
import { EXAMPLE_DATA, ProtocolTrainer, repo } from './protocol-harness.js';

/**
 * The TF.js example as a protocol trainer (docs/trainer-protocol.md): one honest train run on a
 * 300-record slice, then the audit modes against its transcript, as `aicert audit` runs them.
 */
const SEED = '5eed'.repeat(16);
// 300 records, 10% held out: a pool of 270, 16 steps per epoch in batches of 16, 32 steps in all;
// k = 5 gives checkpoints after steps 0, 5, …, 30 and 32: indices 0–7, the last segment partial.
const K = 5;
const STEPS = 32;
const TRAIN_OPTIONS = ['--epochs', '2', '--batch-size', '16', '--learning-rate', '0.1'];

describe('the fashion-mnist trainer under the trainer protocol', () => {
  const trainer = new ProtocolTrainer(
    [process.execPath, join(repo, 'dist/examples/fashion-mnist/train.js')],
    SEED,
    K,
    TRAIN_OPTIONS,
  );
  const replay = (segment: number, backend = 'cpu') =>
    trainer.output('replay', { AICERT_SEGMENT: String(segment), AICERT_TFJS_BACKEND: backend });
  const checkpointBytes = (i: number) => trainer.checkpointBytes(i);

  before(() => trainer.setUp('fmnist-protocol'));
  after(() => trainer.tearDown());

  test('train writes the transcript the protocol describes, with the order and held-out set derived from s', async () => {
    const seed = Buffer.from(SEED, 'hex');
    assert.deepEqual((await readdir(trainer.transcript)).sort(), ['batches.jsonl', 'checkpoints', 'meta.json']);
    assert.deepEqual(
      await readdir(join(trainer.transcript, 'checkpoints')),
      [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `00000${i}.safetensors`),
    );
    const meta = await readTranscriptMeta(trainer.transcript);
    assert.deepEqual(
      { ...meta, hyperparameters: undefined },
      {
        protocol: 1,
        framework: 'tfjs-4.22.0/cpu',
        batchSize: 16,
        k: K,
        steps: STEPS,
        records: 300,
        hyperparameters: undefined,
      },
    );
    assert.deepEqual(meta.hyperparameters.learningRate, {
      initial: 0.1,
      schedule: 'linear-decay',
      formula: 'initial * (1 - t / steps)',
    });
    const { trainPool, heldOut } = splitHoldout(seed, 300, 0.1);
    assert.equal(heldOut.length, 30);
    assert.deepEqual(await readBatches(trainer.transcript), batchSchedule(seed, trainPool, 16, 2));
    assert.ok(
      (await checkpointBytes(0)).equals(encodeF32Safetensors(initialWeights(seed))),
      'checkpoint 0 is W0 from s',
    );
    assert.ok(
      (await checkpointBytes(7)).equals(await readFile(join(trainer.model, 'model.safetensors'))),
      'the last checkpoint is the final model',
    );
  });

  test('init writes W0 byte for byte as checkpoint 0, on either backend', async () => {
    assert.ok((await trainer.output('init', {})).equals(await checkpointBytes(0)));
    assert.ok((await trainer.output('init', { AICERT_TFJS_BACKEND: 'wasm' })).equals(await checkpointBytes(0)));
  });

  test('replay of a first, middle and final partial segment gives byte-identical checkpoints on the cpu backend', async () => {
    const [first, middle, last] = await Promise.all([replay(0), replay(3), replay(6)]);
    assert.ok(first.equals(await checkpointBytes(1)), 'segment 0');
    assert.ok(middle.equals(await checkpointBytes(4)), 'segment 3');
    assert.ok(last.equals(await checkpointBytes(7)), 'segment 6 (steps 30 and 31)');
    assert.ok(!middle.equals(await checkpointBytes(3)), 'a replay moves the weights');
  });

  test('replay on the wasm backend is repeatable and lands within a tiny fraction of the update of the cpu run', async () => {
    const [a, b] = await Promise.all([replay(3, 'wasm'), replay(3, 'wasm')]);
    assert.ok(a.equals(b), 'wasm replays agree with each other');
    const path = trainer.fresh('wasm.safetensors');
    await writeFile(path, a);
    const replayed = await readCheckpointFile(path);
    const before = await readCheckpointFile(checkpointPath(trainer.transcript, 3));
    const claimed = await readCheckpointFile(checkpointPath(trainer.transcript, 4));
    const error = distance(replayed, claimed);
    const update = distance(replayed, before);
    assert.ok(update > 0.05, `update norm ${update}`);
    assert.ok(error / update < 1e-4, `cpu vs wasm: ‖W′−W‖ = ${error}, update ${update}`);
  });

  test('loss gives the cross-entropy of each requested record, in request order, as a hand-written forward pass does', async () => {
    const losses = await trainer.assertLosses(7, [0, 299, 5, 0], crossEntropy);
    assert.equal(losses[0], losses[3]);
  });

  test('audit modes refuse what they cannot do, with exit status 2 and no output file', async () => {
    const records = await trainer.recordsFile([0, 300]);
    await trainer.assertRefusals([
      ['replay', { AICERT_SEGMENT: '7' }, /segment 7 does not exist/],
      ['replay', { AICERT_SEGMENT: '1', AICERT_CHECKPOINT_EVERY: '4' }, /meta\.json says k = 5/],
      ['replay', { AICERT_SEGMENT: '1', AICERT_TRAINER_PROTOCOL: '2' }, /speaks trainer protocol 1 only/],
      [
        'loss',
        { AICERT_CHECKPOINT: checkpointPath(trainer.transcript, 1), AICERT_RECORDS: records },
        /record 300 is not in the dataset of 300 records/,
      ],
      ['init', { AICERT_TFJS_BACKEND: 'webgl' }, /AICERT_TFJS_BACKEND must be cpu or wasm/],
    ]);
    const seeded = await trainer.run('train', {}, ['--data', EXAMPLE_DATA, '--out', trainer.fresh('m'), '--seed', '3']);
    assert.equal(seeded.status, 2);
    assert.match(seeded.stderr, /drop --seed and --limit/);
  });
});

function distance(a: Checkpoint, b: Checkpoint): number {
  let sum = 0;
  for (const [name, { data }] of a) {
    const other = b.get(name)!.data;
    for (let i = 0; i < data.length; i++) sum += (data[i]! - other[i]!) ** 2;
  }
  return Math.sqrt(sum);
}

/** −log softmax(logits)[label] of the 784-64-10 MLP, in float64 from first principles. */
function crossEntropy(w: Checkpoint, pixels: Uint8Array, label: number): number {
  const dense = (input: number[], name: string, units: number) => {
    const kernel = w.get(`${name}.kernel`)!.data;
    const bias = w.get(`${name}.bias`)!.data;
    return Array.from({ length: units }, (_, j) =>
      input.reduce((sum, x, i) => sum + x * kernel[i * units + j]!, bias[j]!),
    );
  };
  const hidden = dense(
    Array.from(pixels, (p) => p / 255),
    'dense1',
    64,
  ).map((v) => Math.max(0, v));
  const logits = dense(hidden, 'dense2', 10);
  const max = Math.max(...logits);
  const logSum = Math.log(logits.reduce((s, v) => s + Math.exp(v - max), 0)) + max;
  return logSum - logits[label]!;
}
