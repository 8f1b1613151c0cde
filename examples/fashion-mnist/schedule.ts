import { SeededRandom } from './seeded-random.js';

/**
 * What step t of a run does: train on the records `batchSchedule(...)[t]` with learning rate
 * `learningRateAt(t, ...)`. Both follow from the seed and the run's options alone, so any step can
 * be re-executed from the weights before it.
 */

/**
 * The data order of a run: for each epoch a fresh permutation of the training records from the
 * seed's "order" stream, cut into consecutive batches (the last batch of an epoch may be short,
 * so every record is trained on exactly once per epoch).
 */
export function batchSchedule(seed: string, recordCount: number, epochs: number, batchSize: number): number[][] {
  const random = new SeededRandom(seed, 'order');
  const steps: number[][] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = random.permutation(recordCount);
    for (let start = 0; start < recordCount; start += batchSize) steps.push(order.slice(start, start + batchSize));
  }
  return steps;
}

/** Plain SGD with a learning rate decaying linearly from `initial` (step 0) towards 0 (the end). */
export function learningRateAt(step: number, totalSteps: number, initial: number): number {
  return initial * (1 - step / totalSteps);
}
