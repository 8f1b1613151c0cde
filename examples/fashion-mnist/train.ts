/**
 * Trains the Fashion-MNIST example classifier deterministically and writes model.safetensors and
 * metrics.json. Everything random (initial weights, data order) derives from --seed, so the same
 * data, seed and options give the same output bytes on every run. See README.md beside this file.
 */
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../../src/errors.js';
import { writeFileAtomic } from '../../src/util/atomic-write.js';
import { integerOption, parseOptions, requiredOption, runMain } from './cli.js';
import { ARCHITECTURE, Mlp, initialWeights, toInputs, useCpuBackend, type Evaluation } from './mlp.js';
import { readImageSet } from './records.js';
import { encodeSafetensors } from './safetensors-writer.js';
import { batchSchedule, learningRateAt } from './schedule.js';

const DEFAULT_EPOCHS = 5;
const BATCH_SIZE = 32;
const INITIAL_LEARNING_RATE = 0.2;

const USAGE = `usage: train --data DIR --out DIR [--epochs N] [--seed N] [--limit N] [--checkpoint-every K]
  --data DIR            holds train.jsonl and test.jsonl (e.g. examples/fashion-mnist/data)
  --out DIR             where model.safetensors and metrics.json go (created if missing)
  --epochs N            passes over the training records (default ${DEFAULT_EPOCHS})
  --seed N              seed of the initial weights and the data order (default 1)
  --limit N             train on the first N training records only (default: all)
  --checkpoint-every K  also write the weights before step 0 and after every K steps to
                        DIR/checkpoints/step-NNNNNN.safetensors`;

async function main(): Promise<void> {
  const options = parseOptions(
    {
      data: { type: 'string' },
      out: { type: 'string' },
      epochs: { type: 'string' },
      seed: { type: 'string' },
      limit: { type: 'string' },
      'checkpoint-every': { type: 'string' },
      help: { type: 'boolean' },
    },
  );
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const dataDir = requiredOption(options.data, '--data');
  const outDir = requiredOption(options.out, '--out');
  const epochs = integerOption(options.epochs, '--epochs', DEFAULT_EPOCHS, 1, 1000);
  const seed = integerOption(options.seed, '--seed', 1, 0);
  const limit = integerOption(options.limit, '--limit', Number.MAX_SAFE_INTEGER);
  const checkpointEvery = integerOption(options['checkpoint-every'], '--checkpoint-every', 0);
  if (!isDirectory(dataDir)) throw new InputError('example.missing-data', `data directory ${dataDir} does not exist`);

  const started = Date.now();
  const train = readImageSet(join(dataDir, 'train.jsonl'), limit);
  const test = readImageSet(join(dataDir, 'test.jsonl'));
  const trainInputs = toInputs(train);
  const testInputs = toInputs(test);
  const checkpointDir = join(outDir, 'checkpoints');
  makeDirectory(checkpointEvery > 0 ? checkpointDir : outDir);

  await useCpuBackend();
  const model = new Mlp(initialWeights(String(seed)), 'the initial weights');
  const optimizer = tf.train.sgd(INITIAL_LEARNING_RATE);
  const schedule = batchSchedule(String(seed), train.count, epochs, BATCH_SIZE);
  const stepsPerEpoch = Math.ceil(train.count / BATCH_SIZE);
  const saveCheckpoint = (step: number) =>
    writeFileAtomic(join(checkpointDir, `step-${String(step).padStart(6, '0')}.safetensors`), encodeSafetensors(model.weights()));
  process.stderr.write(
    `training ${ARCHITECTURE} on ${train.count} images (${test.count} test images), ` +
      `${epochs} epochs of ${stepsPerEpoch} steps, seed ${seed}\n`,
  );

  if (checkpointEvery > 0) await saveCheckpoint(0);
  let step = 0;
  let trainLoss = Number.NaN;
  let testResult: Evaluation = { accuracy: Number.NaN, loss: Number.NaN };
  for (let epoch = 1; epoch <= epochs; epoch++) {
    let lossSum = 0;
    for (const batch of schedule.slice((epoch - 1) * stepsPerEpoch, epoch * stepsPerEpoch)) {
      optimizer.setLearningRate(learningRateAt(step, schedule.length, INITIAL_LEARNING_RATE));
      lossSum += model.trainStep(optimizer, trainInputs, train.labels, batch) * batch.length;
      step++;
      if (checkpointEvery > 0 && step % checkpointEvery === 0) await saveCheckpoint(step);
    }
    trainLoss = lossSum / train.count;
    testResult = model.evaluate(testInputs, test.labels);
    process.stderr.write(
      `epoch ${epoch}/${epochs}: train loss ${trainLoss.toFixed(4)}, test loss ${testResult.loss.toFixed(4)}, ` +
        `test accuracy ${(100 * testResult.accuracy).toFixed(1)}% (${seconds(started)} s)\n`,
    );
  }

  // Only deterministic values go into metrics.json: it is an output that gets certified.
  const metrics = {
    architecture: ARCHITECTURE,
    seed,
    epochs,
    steps: schedule.length,
    batchSize: BATCH_SIZE,
    learningRate: { initial: INITIAL_LEARNING_RATE, decay: 'linear to 0 over the run' },
    trainRecords: train.count,
    testRecords: test.count,
    trainLoss,
    testLoss: testResult.loss,
    testAccuracy: testResult.accuracy,
  };
  await writeFileAtomic(join(outDir, 'model.safetensors'), encodeSafetensors(model.weights()));
  await writeFileAtomic(join(outDir, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
  model.dispose();
  process.stderr.write(
    `wrote ${join(outDir, 'model.safetensors')} and metrics.json: test accuracy ` +
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
    throw new InputError('example.bad-out', `cannot create the output directory ${path}: ${(err as NodeJS.ErrnoException).code}`);
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
