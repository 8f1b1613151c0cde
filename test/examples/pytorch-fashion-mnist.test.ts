import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readImageSet } from '../../examples/fashion-mnist/records.js';
import { batchSchedule, checkpointPath, readBatches, readCheckpointFile, readLosses, readTranscriptMeta, splitHoldout, type Checkpoint } from '../../src/trainer/index.js';

/**
 * The PyTorch example (examples/pytorch-fashion-mnist/train.py, Debian's python3-torch on
 * /usr/bin/python3) as a protocol trainer: one honest run on a 300-record slice, then the audit
 * modes against its transcript; and its plain mode, run twice, for byte-identical outputs.
 */
const PYTHON = '/usr/bin/python3';
const repo = fileURLToPath(new URL('../../..', import.meta.url));
const TRAINER = join(repo, 'examples/pytorch-fashion-mnist/train.py');
const DATA = join(repo, 'examples/fashion-mnist/data');
const SEED = 'c0ffee'.repeat(10) + 'abcd';
const K = 5;
const TRAIN_OPTIONS = ['--epochs', '2', '--batch-size', '16', '--learning-rate', '0.1'];

interface Outcome {
  status: number;
  stderr: string;
}

function python(args: string[], env: Record<string, string | undefined>): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(PYTHON, [TRAINER, ...args], { cwd: repo, env: { PATH: process.env.PATH, ...env } }, (err, _stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr });
    });
  });
}

describe('the PyTorch fashion-mnist trainer', () => {
  let work: string;
  let dataset: string;
  let transcript: string;
  let model: string;
  let n = 0;
  const fresh = (name: string) => join(work, `${n++}-${name}`);
  const protocolEnv = (mode: string, extra: Record<string, string> = {}) => ({
    AICERT_TRAINER_PROTOCOL: '1',
    AICERT_TRAINER_MODE: mode,
    AICERT_SEED: SEED,
    AICERT_TRANSCRIPT: transcript,
    AICERT_CHECKPOINT_EVERY: String(K),
    AICERT_HOLDOUT_FRACTION: '0.1',
    AICERT_DATASET: dataset,
    ...extra,
  });
  async function audit(mode: string, extra: Record<string, string>): Promise<Buffer> {
    const output = fresh(`${mode}.out`);
    const outcome = await python(['--data', DATA, '--out', fresh('unused'), ...TRAIN_OPTIONS], protocolEnv(mode, { ...extra, AICERT_OUTPUT: output }));
    assert.equal(outcome.status, 0, outcome.stderr);
    return readFile(output);
  }
  const checkpointBytes = (i: number) => readFile(checkpointPath(transcript, i));

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-pytorch-'));
    dataset = join(work, 'slice.jsonl');
    const lines = (await readFile(join(DATA, 'train.jsonl'), 'utf8')).split('\n').slice(0, 300);
    await writeFile(dataset, `${lines.join('\n')}\n`);
    transcript = join(work, 'transcript');
    model = join(work, 'model');
    const outcome = await python(['--data', DATA, '--out', model, ...TRAIN_OPTIONS], protocolEnv('train'));
    assert.equal(outcome.status, 0, outcome.stderr);
  });
  after(() => rm(work, { recursive: true, force: true }));

  test('train writes the protocol transcript: order and held-out set from s, the last checkpoint is the model', async () => {
    const seed = Buffer.from(SEED, 'hex');
    assert.deepEqual(await readdir(join(transcript, 'checkpoints')), [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `00000${i}.safetensors`));
    const meta = await readTranscriptMeta(transcript);
    assert.match(meta.framework, /^pytorch-1\.13\.[^/]+\/cpu$/);
    assert.deepEqual([meta.batchSize, meta.k, meta.steps, meta.records], [16, K, 32, 300]);
    const { trainPool } = splitHoldout(seed, 300, 0.1);
    assert.deepEqual(await readBatches(transcript), batchSchedule(seed, trainPool, 16, 2));
    assert.ok((await checkpointBytes(7)).equals(await readFile(join(model, 'model.safetensors'))));
    const w0 = await readCheckpointFile(checkpointPath(transcript, 0));
    assert.deepEqual([...w0].map(([name, t]) => [name, t.shape]), [['fc1.bias', [64]], ['fc1.weight', [64, 784]], ['fc2.bias', [10]], ['fc2.weight', [10, 64]]]);
    const limit = Math.sqrt(6 / (784 + 64));
    assert.ok(w0.get('fc1.weight')!.data.every((v) => Math.abs(v) <= limit) && w0.get('fc1.bias')!.data.every((v) => v === 0));
  });

  test('init reproduces checkpoint 0 byte for byte', async () => {
    assert.ok((await audit('init', {})).equals(await checkpointBytes(0)));
  });

  test('replay of a first, middle and final partial segment gives identical checkpoint bytes', async () => {
    const [first, middle, last] = await Promise.all([0, 3, 6].map((i) => audit('replay', { AICERT_SEGMENT: String(i) })));
    assert.ok(first!.equals(await checkpointBytes(1)), 'segment 0');
    assert.ok(middle!.equals(await checkpointBytes(4)), 'segment 3');
    assert.ok(last!.equals(await checkpointBytes(7)), 'segment 6 (steps 30 and 31)');
    assert.ok(!middle!.equals(await checkpointBytes(3)), 'a replay moves the weights');
  });

  test('loss returns the per-example cross-entropy of each requested record, in order', async () => {
    const records = [0, 299, 7, 0];
    const file = fresh('records.json');
    await writeFile(file, JSON.stringify(records));
    const checkpoint = checkpointPath(transcript, 7);
    const output = fresh('losses.json');
    const outcome = await python([], protocolEnv('loss', { AICERT_CHECKPOINT: checkpoint, AICERT_RECORDS: file, AICERT_OUTPUT: output }));
    assert.equal(outcome.status, 0, outcome.stderr);
    const losses = await readLosses(output, records.length);
    const weights = await readCheckpointFile(checkpoint);
    const data = readImageSet(dataset);
    for (const [i, record] of records.entries()) {
      const expected = crossEntropy(weights, data.pixels.subarray(record * 784, (record + 1) * 784), data.labels[record]!);
      assert.ok(Math.abs(losses[i]! - expected) < 1e-4 * Math.max(1, expected), `record ${record}: ${losses[i]} vs ${expected}`);
    }
  });

  test('plain mode (no AICERT_* environment) is deterministic across processes', async () => {
    const [a, b] = [fresh('plain'), fresh('plain')];
    const outcomes = await Promise.all([a, b].map((out) => python(['--data', DATA, '--out', out, '--limit', '320', '--epochs', '1'], {})));
    for (const o of outcomes) assert.equal(o.status, 0, o.stderr);
    for (const file of ['model.safetensors', 'metrics.json']) assert.ok((await readFile(join(a, file))).equals(await readFile(join(b, file))), file);
    const metrics = JSON.parse(await readFile(join(a, 'metrics.json'), 'utf8'));
    assert.equal(metrics.steps, 10);
    assert.ok(metrics.testAccuracy > 0.3, `test accuracy ${metrics.testAccuracy}`);
  });

  test('refusals: exit status 2, a message, and no output file', async () => {
    const records = fresh('records.json');
    await writeFile(records, '[0, 300]');
    const valid = fresh('valid.json');
    await writeFile(valid, '[0]');
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      ['replay', { AICERT_SEGMENT: '7' }, /segment 7 does not exist/],
      ['replay', { AICERT_SEGMENT: '1', AICERT_TRAINER_PROTOCOL: '2' }, /speaks trainer protocol 1 only/],
      ['loss', { AICERT_CHECKPOINT: checkpointPath(transcript, 1), AICERT_RECORDS: records }, /record 300 is not in the dataset of 300 records/],
      ['loss', { AICERT_CHECKPOINT: fresh('absent'), AICERT_RECORDS: valid }, /absent: No such file/],
    ];
    await Promise.all(cases.map(async ([mode, extra, message]) => {
      const output = fresh('refused.out');
      const outcome = await python([], protocolEnv(mode, { ...extra, AICERT_OUTPUT: output }));
      assert.equal(outcome.status, 2, `${mode} ${JSON.stringify(extra)}: ${outcome.stderr}`);
      assert.match(outcome.stderr, message);
      assert.equal(existsSync(output), false);
    }));
  });
});

/** −log softmax(logits)[label] of the PyTorch MLP (weights [out, in]), in float64 from first principles. */
function crossEntropy(w: Checkpoint, pixels: Uint8Array, label: number): number {
  const linear = (input: number[], name: string) => {
    const weight = w.get(`${name}.weight`)!;
    const bias = w.get(`${name}.bias`)!.data;
    const [outputs, inputs] = weight.shape as [number, number];
    return Array.from({ length: outputs }, (_, j) => input.reduce((sum, x, i) => sum + x * weight.data[j * inputs + i]!, bias[j]!));
  };
  const hidden = linear(Array.from(pixels, (p) => p / 255), 'fc1').map((v) => Math.max(0, v));
  const logits = linear(hidden, 'fc2');
  const max = Math.max(...logits);
  return Math.log(logits.reduce((s, v) => s + Math.exp(v - max), 0)) + max - logits[label]!;
}
