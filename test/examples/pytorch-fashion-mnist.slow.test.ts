import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  batchSchedule,
  checkpointPath,
  readBatches,
  readCheckpointFile,
  readTranscriptMeta,
  splitHoldout,
  type Checkpoint,
} from '../../src/trainer/index.js';
import { EXAMPLE_DATA, ProtocolTrainer, repo, runProcess } from './protocol-harness.js';

/**
 * The PyTorch example (examples/pytorch-fashion-mnist/train.py, Debian's python3-torch on
 * /usr/bin/python3) as a protocol trainer: one honest run on a 300-record slice, then the audit
 * modes against its transcript; and its plain mode, run twice, for byte-identical outputs.
 */
const COMMAND = ['/usr/bin/python3', join(repo, 'examples/pytorch-fashion-mnist/train.py')];
const SEED = 'c0ffee'.repeat(10) + 'abcd';
const K = 5;
const TRAIN_OPTIONS = ['--epochs', '2', '--batch-size', '16', '--learning-rate', '0.1'];

describe('the PyTorch fashion-mnist trainer', () => {
  const trainer = new ProtocolTrainer(COMMAND, SEED, K, TRAIN_OPTIONS);
  const checkpointBytes = (i: number) => trainer.checkpointBytes(i);

  before(() => trainer.setUp('pytorch'));
  after(() => trainer.tearDown());

  test('train writes the protocol transcript: order and held-out set from s, the last checkpoint is the model', async () => {
    const seed = Buffer.from(SEED, 'hex');
    assert.deepEqual(
      await readdir(join(trainer.transcript, 'checkpoints')),
      [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `00000${i}.safetensors`),
    );
    const meta = await readTranscriptMeta(trainer.transcript);
    assert.match(meta.framework, /^pytorch-1\.13\.[^/]+\/cpu$/);
    assert.deepEqual([meta.batchSize, meta.k, meta.steps, meta.records], [16, K, 32, 300]);
    const { trainPool } = splitHoldout(seed, 300, 0.1);
    assert.deepEqual(await readBatches(trainer.transcript), batchSchedule(seed, trainPool, 16, 2));
    assert.ok((await checkpointBytes(7)).equals(await readFile(join(trainer.model, 'model.safetensors'))));
    const w0 = await readCheckpointFile(checkpointPath(trainer.transcript, 0));
    assert.deepEqual(
      [...w0].map(([name, t]) => [name, t.shape]),
      [
        ['fc1.bias', [64]],
        ['fc1.weight', [64, 784]],
        ['fc2.bias', [10]],
        ['fc2.weight', [10, 64]],
      ],
    );
    const limit = Math.sqrt(6 / (784 + 64));
    assert.ok(
      w0.get('fc1.weight')!.data.every((v) => Math.abs(v) <= limit) && w0.get('fc1.bias')!.data.every((v) => v === 0),
    );
  });

  test('init reproduces checkpoint 0 byte for byte', async () => {
    assert.ok((await trainer.output('init', {})).equals(await checkpointBytes(0)));
  });

  test('replay of a first, middle and final partial segment gives identical checkpoint bytes', async () => {
    const [first, middle, last] = await Promise.all(
      [0, 3, 6].map((i) => trainer.output('replay', { AICERT_SEGMENT: String(i) })),
    );
    assert.ok(first!.equals(await checkpointBytes(1)), 'segment 0');
    assert.ok(middle!.equals(await checkpointBytes(4)), 'segment 3');
    assert.ok(last!.equals(await checkpointBytes(7)), 'segment 6 (steps 30 and 31)');
    assert.ok(!middle!.equals(await checkpointBytes(3)), 'a replay moves the weights');
  });

  test('loss returns the per-example cross-entropy of each requested record, in order', async () => {
    await trainer.assertLosses(7, [0, 299, 7, 0], crossEntropy);
  });

  test('plain mode (no AICERT_* environment) is deterministic across processes', async () => {
    const [a, b] = [trainer.fresh('plain'), trainer.fresh('plain')];
    const outcomes = await Promise.all(
      [a, b].map((out) =>
        runProcess([...COMMAND, '--data', EXAMPLE_DATA, '--out', out, '--limit', '320', '--epochs', '1'], {}),
      ),
    );
    for (const o of outcomes) assert.equal(o.status, 0, o.stderr);
    for (const file of ['model.safetensors', 'metrics.json'])
      assert.ok((await readFile(join(a, file))).equals(await readFile(join(b, file))), file);
    const metrics = JSON.parse(await readFile(join(a, 'metrics.json'), 'utf8'));
    assert.equal(metrics.steps, 10);
    assert.ok(metrics.testAccuracy > 0.3, `test accuracy ${metrics.testAccuracy}`);
  });

  test('refusals: exit status 2, a message, and no output file', async () => {
    await trainer.assertRefusals([
      ['replay', { AICERT_SEGMENT: '7' }, /segment 7 does not exist/],
      ['replay', { AICERT_SEGMENT: '1', AICERT_TRAINER_PROTOCOL: '2' }, /speaks trainer protocol 1 only/],
      [
        'loss',
        {
          AICERT_CHECKPOINT: checkpointPath(trainer.transcript, 1),
          AICERT_RECORDS: await trainer.recordsFile([0, 300]),
        },
        /record 300 is not in the dataset of 300 records/,
      ],
      [
        'loss',
        { AICERT_CHECKPOINT: trainer.fresh('absent'), AICERT_RECORDS: await trainer.recordsFile([0]) },
        /absent: No such file/,
      ],
    ]);
  });
});

/** −log softmax(logits)[label] of the PyTorch MLP (weights [out, in]), in float64 from first principles. */
function crossEntropy(w: Checkpoint, pixels: Uint8Array, label: number): number {
  const linear = (input: number[], name: string) => {
    const weight = w.get(`${name}.weight`)!;
    const bias = w.get(`${name}.bias`)!.data;
    const [outputs, inputs] = weight.shape as [number, number];
    return Array.from({ length: outputs }, (_, j) =>
      input.reduce((sum, x, i) => sum + x * weight.data[j * inputs + i]!, bias[j]!),
    );
  };
  const hidden = linear(
    Array.from(pixels, (p) => p / 255),
    'fc1',
  ).map((v) => Math.max(0, v));
  const logits = linear(hidden, 'fc2');
  const max = Math.max(...logits);
  return Math.log(logits.reduce((s, v) => s + Math.exp(v - max), 0)) + max - logits[label]!;
}
