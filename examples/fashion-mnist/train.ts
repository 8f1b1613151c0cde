/**
 * Trains the Fashion-MNIST example classifier deterministically and writes model.safetensors and
 * metrics.json. It is an aicert protocol trainer (docs/trainer-protocol.md): started by
 * `aicert run --trainer …` or `aicert audit`, it takes its seed, dataset and mode from the AICERT_*
 * environment (protocol.ts); started by hand, it derives everything from --seed. See README.md.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../../src/errors.js';
import {
  batchSchedule,
  readTrainerEnvironment,
  splitHoldout,
  writeCheckpointFile,
  TranscriptWriter,
  type TrainerEnvironment,
} from '../../src/trainer/index.js';
import { writeFileAtomic } from '../../src/util/atomic-write.js';
import { backendFromEnvironment, frameworkName, useBackend } from './backend.js';
import { decimalOption, integerOption, parseOptions, requiredOption, runMain } from './cli.js';
import { ARCHITECTURE, Mlp, initialWeights, toInputs, type Evaluation } from './mlp.js';
import { runAuditMode } from './protocol.js';
import { readImageSet } from './records.js';
import { LinearDecaySgd } from './sgd.js';

const DEFAULTS = { epochs: 5, batchSize: 32, learningRate: 0.2 };

const USAGE = `usage: train --data DIR --out DIR [--epochs N] [--batch-size B] [--learning-rate LR] [--seed N] [--limit N]
  --data DIR            holds train.jsonl and test.jsonl (e.g. examples/fashion-mnist/data)
  --out DIR             where model.safetensors and metrics.json go (created if missing)
  --epochs N            passes over the training records (default ${DEFAULTS.epochs})
  --batch-size B        records per step (default ${DEFAULTS.batchSize})
  --learning-rate LR    initial SGD learning rate, decaying linearly to 0 (default ${DEFAULTS.learningRate})
  --seed N              seed of the initial weights and the data order (default 1; not under the protocol)
  --limit N             train on the first N training records only (not under the protocol)

Under the aicert trainer protocol (AICERT_TRAINER_MODE set, docs/trainer-protocol.md) the seed
comes from AICERT_SEED, the training records from AICERT_DATASET, and a transcript is written to
AICERT_TRANSCRIPT; modes init, replay and loss ignore the options and write AICERT_OUTPUT.
AICERT_TFJS_BACKEND=cpu|wasm selects the TensorFlow.js backend (default cpu).`;

async function main(): Promise<void> {
  const options = parseOptions({
    data: { type: 'string' },
    out: { type: 'string' },
    epochs: { type: 'string' },
    'batch-size': { type: 'string' },
    'learning-rate': { type: 'string' },
    seed: { type: 'string' },
    limit: { type: 'string' },
    help: { type: 'boolean' },
  });
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const backend = backendFromEnvironment();
  const protocol = readTrainerEnvironment();
  if (protocol && protocol.mode !== 'train') {
    await useBackend(backend);
    await runAuditMode(protocol);
    return;
  }
  if (protocol && (options.seed !== undefined || options.limit !== undefined)) {
    throw new InputError(
      'example.usage',
      'under the trainer protocol the seed comes from AICERT_SEED and the records from AICERT_DATASET: drop --seed and --limit',
    );
  }
  const dataDir = requiredOption(options.data, '--data');
  const outDir = requiredOption(options.out, '--out');
  if (!isDirectory(dataDir)) throw new InputError('example.missing-data', `data directory ${dataDir} does not exist`);
  const seedNumber = integerOption(options.seed, '--seed', 1, 0);
  await train({
    protocol,
    seed: protocol?.seed ?? seedFromNumber(seedNumber),
    seedLabel: protocol ? protocol.seed.toString('hex') : seedNumber,
    trainFile: protocol?.dataset ?? join(dataDir, 'train.jsonl'),
    limit: integerOption(options.limit, '--limit', Number.MAX_SAFE_INTEGER),
    testFile: join(dataDir, 'test.jsonl'),
    outDir,
    epochs: integerOption(options.epochs, '--epochs', DEFAULTS.epochs, 1, 1000),
    batchSize: integerOption(options['batch-size'], '--batch-size', DEFAULTS.batchSize, 1, 100_000),
    learningRate: decimalOption(options['learning-rate'], '--learning-rate', DEFAULTS.learningRate),
    backend,
  });
}

interface TrainingOptions {
  protocol: TrainerEnvironment | undefined;
  seed: Buffer;
  /** How metrics.json names the seed: --seed's number, or s in hex. */
  seedLabel: number | string;
  trainFile: string;
  limit: number;
  testFile: string;
  outDir: string;
  epochs: number;
  batchSize: number;
  learningRate: number;
  backend: 'cpu' | 'wasm';
}

/** A run started by hand has no committed seed; s is derived from --seed instead. */
function seedFromNumber(n: number): Buffer {
  return createHash('sha256').update(`aicert-example/fashion-mnist/seed/${n}`).digest();
}

async function train(o: TrainingOptions): Promise<void> {
  const started = Date.now();
  const data = readImageSet(o.trainFile, o.limit);
  const test = readImageSet(o.testFile);
  const inputs = toInputs(data);
  const testInputs = toInputs(test);
  const { trainPool, heldOut } = splitHoldout(o.seed, data.count, o.protocol?.holdoutFraction ?? 0);
  const schedule = batchSchedule(o.seed, trainPool, o.batchSize, o.epochs);
  const stepsPerEpoch = schedule.length / o.epochs;
  makeDirectory(o.outDir);

  await useBackend(o.backend);
  const model = new Mlp(initialWeights(o.seed), 'the initial weights');
  const sgd = new LinearDecaySgd(o.learningRate, schedule.length);
  const transcript = o.protocol && new TranscriptWriter(o.protocol.transcript);
  const k = o.protocol?.checkpointEvery ?? 0;
  process.stderr.write(
    `training ${ARCHITECTURE} on ${trainPool.length} images (${heldOut.length} held out, ${test.count} test images), ` +
      `${o.epochs} epochs of ${stepsPerEpoch} steps on TensorFlow.js ${o.backend}` +
      (o.protocol
        ? `, transcript in ${o.protocol.transcript} (checkpoint every ${k} steps)\n`
        : `, seed ${o.seedLabel}\n`),
  );
  await transcript?.writeMeta({
    protocol: 1,
    framework: frameworkName(),
    batchSize: o.batchSize,
    k,
    steps: schedule.length,
    records: data.count,
    hyperparameters: { architecture: ARCHITECTURE, epochs: o.epochs, ...sgd.describe() },
  });
  await transcript?.writeCheckpoint(0, model.weights());

  let lossSum = 0;
  let trainLoss = Number.NaN;
  let testResult: Evaluation = { accuracy: Number.NaN, loss: Number.NaN };
  for (const [t, batch] of schedule.entries()) {
    await transcript?.appendBatch(t, batch);
    lossSum += sgd.step(model, t, inputs, data.labels, batch);
    const done = t + 1;
    if (transcript && (done % k === 0 || done === schedule.length))
      await transcript.writeCheckpoint(Math.ceil(done / k), model.weights());
    if (done % stepsPerEpoch === 0) {
      trainLoss = lossSum / stepsPerEpoch;
      lossSum = 0;
      testResult = model.evaluate(testInputs, test.labels);
      process.stderr.write(
        `epoch ${done / stepsPerEpoch}/${o.epochs}: train loss ${trainLoss.toFixed(4)}, test loss ${testResult.loss.toFixed(4)}, ` +
          `test accuracy ${(100 * testResult.accuracy).toFixed(1)}% (${seconds(started)} s)\n`,
      );
    }
  }

  // Only deterministic values go into metrics.json: it is an output that gets certified.
  const metrics = {
    architecture: ARCHITECTURE,
    seed: o.seedLabel,
    epochs: o.epochs,
    steps: schedule.length,
    batchSize: o.batchSize,
    learningRate: { initial: o.learningRate, decay: 'linear to 0 over the run' },
    trainRecords: trainPool.length,
    heldOutRecords: heldOut.length,
    testRecords: test.count,
    trainLoss,
    testLoss: testResult.loss,
    testAccuracy: testResult.accuracy,
  };
  await writeCheckpointFile(join(o.outDir, 'model.safetensors'), model.weights());
  await writeFileAtomic(join(o.outDir, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
  model.dispose();
  sgd.dispose();
  process.stderr.write(
    `wrote ${join(o.outDir, 'model.safetensors')} and metrics.json: test accuracy ` +
      `${(100 * testResult.accuracy).toFixed(1)}% in ${seconds(started)} s\n`,
  );
}

function seconds(since: number): string {
  return ((Date.now() - since) / 1000).toFixed(1);
}

function makeDirectory(path: string): void {
  try {
    mkdirSync(path, { recursive: true });
  } catch (err) {
    throw new InputError(
      'example.bad-out',
      `cannot create the output directory ${path}: ${(err as NodeJS.ErrnoException).code}`,
    );
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

await runMain('train', main);
