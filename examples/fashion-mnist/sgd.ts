import * as tf from '@tensorflow/tfjs';
import { InputError } from '../../src/errors.js';
import { isPlainObject } from '../../src/util/strict-json.js';
import type { TranscriptMeta } from '../../src/trainer/index.js';
import type { Mlp } from './mlp.js';

/**
 * The example's optimizer: plain SGD (no state to checkpoint) with a learning rate decaying
 * linearly from `initial` at step 0 towards 0 at the end of the run, lr(t) = initial · (1 − t/T).
 * meta.json records `initial` and T, so a replay recomputes the learning rate of any step.
 */
export class LinearDecaySgd {
  private readonly optimizer: tf.SGDOptimizer;

  constructor(
    readonly initial: number,
    readonly totalSteps: number,
  ) {
    this.optimizer = tf.train.sgd(initial);
  }

  /** The optimizer a transcript's meta.json describes (what replay must use). */
  static fromMeta(meta: TranscriptMeta, where: string): LinearDecaySgd {
    const rate = meta.hyperparameters.learningRate;
    const initial = isPlainObject(rate) ? rate.initial : undefined;
    if (
      meta.hyperparameters.optimizer !== 'sgd' ||
      !isPlainObject(rate) ||
      rate.schedule !== 'linear-decay' ||
      typeof initial !== 'number' ||
      !(initial > 0)
    ) {
      throw new InputError(
        'example.bad-meta',
        `${where}: this trainer replays only {"optimizer":"sgd","learningRate":{"initial":>0,"schedule":"linear-decay"}}`,
      );
    }
    return new LinearDecaySgd(initial, meta.steps);
  }

  /** What meta.json's "hyperparameters" record about the optimizer. */
  describe(): Record<string, unknown> {
    return {
      optimizer: 'sgd',
      learningRate: { initial: this.initial, schedule: 'linear-decay', formula: 'initial * (1 - t / steps)' },
    };
  }

  learningRateAt(step: number): number {
    return this.initial * (1 - step / this.totalSteps);
  }

  /** Runs step t on the given batch; returns the batch's mean loss before the update. */
  step(model: Mlp, t: number, inputs: Float32Array, labels: Uint8Array, batch: readonly number[]): number {
    this.optimizer.setLearningRate(this.learningRateAt(t));
    return model.trainStep(this.optimizer, inputs, labels, batch);
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
