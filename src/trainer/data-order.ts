import { InputError } from '../errors.js';
import { SeedStream } from './seed-stream.js';

/**
 * Which records a protocol trainer holds out and in which order it trains on the rest, all
 * derived from the committed seed s (docs/trainer-protocol.md, "Deterministic streams from the
 * seed"). The verifier recomputes both from s, so neither can be chosen after training.
 */

const MILLIONTHS = 1_000_000;

/** The held-out fraction as a whole number of millionths (the protocol allows 6 decimal places). */
export function holdoutMillionths(fraction: number): number {
  const millionths = Math.round(fraction * MILLIONTHS);
  if (!(fraction >= 0 && fraction < 1) || Math.abs(fraction * MILLIONTHS - millionths) > 1e-6) {
    throw new InputError(
      'trainer.holdout-fraction',
      `the held-out fraction must be a decimal from 0 to below 1 with at most 6 decimal places, got ${fraction}`,
    );
  }
  return millionths;
}

/**
 * h = ⌈n · fraction⌉, computed exactly in integer millionths: the float product can land just
 * above a whole number (100 × 0.07 = 7.000000000000001) and round up one record too many.
 */
export function holdoutCount(records: number, fraction: number): number {
  const millionths = holdoutMillionths(fraction);
  return Math.floor((records * millionths + MILLIONTHS - 1) / MILLIONTHS);
}

/**
 * Permutes all n records with stream(s, "aicert/holdout"); the last h are held out (returned in
 * that permutation order, so any prefix of them is a uniformly random subset), the others are the
 * training pool, sorted ascending.
 */
export function splitHoldout(
  seed: Buffer,
  records: number,
  fraction: number,
): { trainPool: number[]; heldOut: number[] } {
  if (!Number.isSafeInteger(records) || records < 1)
    throw new InputError('trainer.records', `a dataset must hold at least one record, got ${records}`);
  const h = holdoutCount(records, fraction);
  if (h >= records)
    throw new InputError('trainer.holdout-fraction', `holding out ${h} of ${records} records leaves none to train on`);
  const permutation = new SeedStream(seed, 'aicert/holdout').permutation(records);
  return {
    trainPool: permutation.slice(0, records - h).sort((a, b) => a - b),
    heldOut: permutation.slice(records - h),
  };
}

/** Epoch e's order: the training pool permuted with stream(s, "aicert/order/" + e), order[j] = pool[π[j]]. */
export function epochOrder(seed: Buffer, trainPool: readonly number[], epoch: number): number[] {
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`epochOrder: ${epoch} is not an epoch number`);
  return new SeedStream(seed, `aicert/order/${epoch}`).permutation(trainPool.length).map((j) => trainPool[j]!);
}

/**
 * The record indices of every step: each epoch's order cut into consecutive batches of
 * `batchSize`, the last partial batch of an epoch dropped, steps numbered on across epochs.
 */
export function batchSchedule(
  seed: Buffer,
  trainPool: readonly number[],
  batchSize: number,
  epochs: number,
): number[][] {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > trainPool.length) {
    throw new InputError(
      'trainer.batch-size',
      `the batch size must be from 1 to the ${trainPool.length} records of the training pool, got ${batchSize}`,
    );
  }
  if (!Number.isSafeInteger(epochs) || epochs < 1)
    throw new InputError('trainer.epochs', `the number of epochs must be a positive whole number, got ${epochs}`);
  const steps: number[][] = [];
  const perEpoch = Math.floor(trainPool.length / batchSize);
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = epochOrder(seed, trainPool, epoch);
    for (let b = 0; b < perEpoch; b++) steps.push(order.slice(b * batchSize, (b + 1) * batchSize));
  }
  return steps;
}
