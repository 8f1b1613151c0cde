import * as tf from '@tensorflow/tfjs';
import { InputError } from '../../src/errors.js';
import { SeedStream, type Checkpoint } from '../../src/trainer/index.js';
import { CLASS_COUNT, IMAGE_PIXELS, type ImageSet } from './records.js';

/**
 * The classifier: a multilayer perceptron 784 → 64 (ReLU) → 10 (softmax), on pixels scaled to
 * [0, 1]. Small enough to train in seconds on TensorFlow.js's pure-JS `cpu` backend, whose
 * kernels run in a fixed order, so training is bit-for-bit repeatable.
 */

const HIDDEN_UNITS = 64;
const LAYERS = [
  { name: 'dense1', inputs: IMAGE_PIXELS, units: HIDDEN_UNITS },
  { name: 'dense2', inputs: HIDDEN_UNITS, units: CLASS_COUNT },
] as const;
/** The model's tensors by name, in the order the forward pass uses them. */
const WEIGHT_SHAPES: ReadonlyArray<{ name: string; shape: number[] }> = LAYERS.flatMap(({ name, inputs, units }) => [
  { name: `${name}.kernel`, shape: [inputs, units] },
  { name: `${name}.bias`, shape: [units] },
]);
export const ARCHITECTURE = `mlp-${IMAGE_PIXELS}-${HIDDEN_UNITS}-${CLASS_COUNT}`;
/** Loss mode evaluates records in chunks of this many, to bound memory. */
const LOSS_CHUNK = 1000;

/**
 * W0 from the seed s: Glorot-uniform kernels, each value (2u − 1)·√(6 / (fan_in + fan_out)) with
 * u = unit() drawn in order from stream(s, "aicert/init") (dense1.kernel row-major, then
 * dense2.kernel), rounded to float32; zero biases.
 */
export function initialWeights(seed: Buffer): Checkpoint {
  const random = new SeedStream(seed, 'aicert/init');
  return new Map(
    WEIGHT_SHAPES.map(({ name, shape }) => {
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      if (shape.length === 2) {
        const limit = Math.sqrt(6 / (shape[0]! + shape[1]!));
        for (let i = 0; i < data.length; i++) data[i] = (2 * random.unit() - 1) * limit;
      }
      return [name, { dtype: 'F32', shape, data }];
    }),
  );
}

/** Pixels 0–255 as network inputs in [0, 1], image after image. */
export function toInputs(images: ImageSet): Float32Array {
  const inputs = new Float32Array(images.pixels.length);
  for (let i = 0; i < inputs.length; i++) inputs[i] = images.pixels[i]! / 255;
  return inputs;
}

export interface Evaluation {
  accuracy: number;
  /** Mean cross-entropy. */
  loss: number;
}

export class Mlp {
  private readonly variables: tf.Variable[];

  /** Builds the model from weights that must match its architecture exactly (names and shapes). */
  constructor(weights: Checkpoint, source: string) {
    if (weights.size !== WEIGHT_SHAPES.length) {
      throw new InputError(
        'example.bad-model',
        `${source} must hold exactly the tensors ${WEIGHT_SHAPES.map((w) => w.name).join(', ')}`,
      );
    }
    this.variables = WEIGHT_SHAPES.map(({ name, shape }) => {
      const tensor = weights.get(name);
      if (!tensor)
        throw new InputError(
          'example.bad-model',
          `${source} must hold exactly the tensors ${WEIGHT_SHAPES.map((w) => w.name).join(', ')}`,
        );
      if (tensor.shape.join() !== shape.join()) {
        throw new InputError('example.bad-model', `${source}: tensor "${name}" must have shape [${shape.join(', ')}]`);
      }
      return tf.tidy(() => tf.variable(tf.tensor(tensor.data, shape, 'float32'))); // unnamed: names are global to TensorFlow.js
    });
  }

  /** One step of plain SGD on the given examples. Returns the batch's mean loss. */
  trainStep(optimizer: tf.Optimizer, inputs: Float32Array, labels: Uint8Array, batch: readonly number[]): number {
    return tf.tidy(() => {
      const x = tf.tensor2d(gatherRows(inputs, batch), [batch.length, IMAGE_PIXELS]);
      const y = oneHot(batch.map((i) => labels[i]!));
      const cost = optimizer.minimize(
        () => tf.losses.softmaxCrossEntropy(y, this.logits(x)) as tf.Scalar,
        true,
        this.variables,
      );
      return cost!.dataSync()[0]!;
    });
  }

  evaluate(inputs: Float32Array, labels: Uint8Array): Evaluation {
    return tf.tidy(() => {
      const x = tf.tensor2d(inputs, [labels.length, IMAGE_PIXELS]);
      const logits = this.logits(x);
      const loss = tf.losses.softmaxCrossEntropy(oneHot(Array.from(labels)), logits).dataSync()[0]!;
      const predicted = logits.argMax(1).dataSync();
      const correct = labels.reduce((n, label, i) => n + (predicted[i] === label ? 1 : 0), 0);
      return { accuracy: correct / labels.length, loss };
    });
  }

  /** The cross-entropy of each of the given records under the current weights, in the order given. */
  perExampleLoss(inputs: Float32Array, labels: Uint8Array, records: readonly number[]): number[] {
    const losses: number[] = [];
    for (let start = 0; start < records.length; start += LOSS_CHUNK) {
      const chunk = records.slice(start, start + LOSS_CHUNK);
      const values = tf.tidy(() => {
        const x = tf.tensor2d(gatherRows(inputs, chunk), [chunk.length, IMAGE_PIXELS]);
        const y = oneHot(chunk.map((i) => labels[i]!));
        return tf.losses.softmaxCrossEntropy(y, this.logits(x), undefined, 0, tf.Reduction.NONE).dataSync();
      });
      losses.push(...values);
    }
    return losses;
  }

  /** The current weights, named as in the model file. */
  weights(): Checkpoint {
    return new Map(
      this.variables.map((v, i) => [
        WEIGHT_SHAPES[i]!.name,
        { dtype: 'F32', shape: [...v.shape], data: Float32Array.from(v.dataSync()) }, // a copy: dataSync may return the backend's own buffer
      ]),
    );
  }

  dispose(): void {
    for (const v of this.variables) v.dispose();
  }

  private logits(x: tf.Tensor2D): tf.Tensor2D {
    const [kernel1, bias1, kernel2, bias2] = this.variables as [tf.Variable, tf.Variable, tf.Variable, tf.Variable];
    const hidden = tf.relu(tf.add(tf.matMul(x, kernel1), bias1));
    return tf.add(tf.matMul(hidden, kernel2), bias2) as tf.Tensor2D;
  }
}

function gatherRows(inputs: Float32Array, rows: readonly number[]): Float32Array {
  const out = new Float32Array(rows.length * IMAGE_PIXELS);
  for (const [i, row] of rows.entries())
    out.set(inputs.subarray(row * IMAGE_PIXELS, (row + 1) * IMAGE_PIXELS), i * IMAGE_PIXELS);
  return out;
}

function oneHot(labels: number[]): tf.Tensor2D {
  return tf.oneHot(tf.tensor1d(labels, 'int32'), CLASS_COUNT) as tf.Tensor2D;
}
