import { createHash } from 'node:crypto';
import { InputError } from '../errors.js';
import { describeModel } from '../measure/formats/describe.js';
import type { ModelDescription } from '../measure/formats/model-description.js';
import { readSafetensorsHeader } from '../measure/formats/safetensors.js';
import { tensorDigests } from '../measure/formats/tensor-digests.js';
import type { HashPool } from '../measure/hash-pool.js';
import { canonicalize } from '../util/jcs.js';
import { MAX_LISTED_TENSORS, type ArtifactEvent, type CheckpointEvent, type ModelTensor } from './run-events.js';

/**
 * What ties the model a protocol trainer ships to its audited training (docs/trainer-protocol.md,
 * "The final model"): the output model's tensors must be exactly the weights of the last
 * checkpoint, i.e. the checkpoint's tensors not under "optimizer/", with the same names, dtypes,
 * shapes and bytes. `aicert run` records both sides (checkpoint events carry the digest of their
 * weights, the model output the per-tensor digests of its safetensors files) and `aicert verify`
 * compares them from the certificate alone (`trainer.final`).
 */

/** Checkpoint tensors under this prefix are optimizer state; every other tensor is a weight. */
export const OPTIMIZER_PREFIX = 'optimizer/';

/** A tensor as the comparison sees it; where its bytes sit in which file does not matter. */
export type TensorIdentity = Pick<ModelTensor, 'name' | 'dtype' | 'shape' | 'sha256'>;

/**
 * SHA-256 of JCS({name: {dtype, shape, sha256}, …}): one digest for a set of tensors, whatever
 * their order or the files they are stored in. Two sets have the same digest exactly when they
 * hold the same names, each with the same dtype, shape and bytes (the SHA-256 of its bytes).
 */
export function tensorSetDigest(tensors: readonly TensorIdentity[]): string {
  const byName = new Map<string, Omit<TensorIdentity, 'name'>>();
  for (const { name, dtype, shape, sha256 } of tensors) {
    if (byName.has(name)) throw new InputError('model-tensors.duplicate', `the tensor name "${name}" appears twice`);
    byName.set(name, { dtype, shape, sha256 });
  }
  return createHash('sha256')
    .update(canonicalize(Object.fromEntries(byName)), 'utf8')
    .digest('hex');
}

/**
 * The weights of a checkpoint file (its tensors not under "optimizer/"): their count and set
 * digest. The header is parsed strictly; the file must still have `size` bytes while its tensors
 * are hashed (else `measure.file-changed`).
 */
export async function measureCheckpointWeights(
  path: string,
  size: number,
  pool: HashPool,
): Promise<NonNullable<CheckpointEvent['weights']>> {
  const header = readSafetensorsHeader(path);
  if (header.fileSize !== size)
    throw new InputError('measure.file-changed', `${path} changed while it was being measured`);
  const weights = header.tensors.filter((t) => !t.name.startsWith(OPTIMIZER_PREFIX));
  const digests = await pool.hashAll(
    weights.map(({ start, end }) => ({ path, start, end, algorithm: 'sha256', expectedSize: size })),
  );
  return {
    tensors: weights.length,
    sha256: tensorSetDigest(
      weights.map(({ name, dtype, shape }, i) => ({ name, dtype, shape, sha256: digests[i]!.toString('hex') })),
    ),
  };
}

/**
 * Per-tensor digests of the model in `path` (a trainer run's output directory), when it can be
 * compared with a checkpoint: every model file in it is safetensors (single or sharded). Otherwise
 * why not, in one line: a model in another format, a file that does not parse, or no model.
 */
export async function measureModelTensors(
  path: string,
  pool: HashPool,
): Promise<{ tensors: ModelTensor[] } | { unavailable: string }> {
  let description: ModelDescription;
  try {
    description = await describeModel(path);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    return { unavailable: `the output's model files cannot be read (${err.message})` };
  }
  const other = description.components.find((c) => c.format !== 'safetensors' && c.format !== 'safetensors-sharded');
  if (other)
    return {
      unavailable: `the output holds a ${other.format} model (${other.entry}); only safetensors can be compared with the checkpoints`,
    };
  const tensors = description.components.flatMap((c) => c.tensors);
  if (tensors.length > MAX_LISTED_TENSORS)
    return {
      unavailable: `the output model has ${tensors.length} tensors, more than the ${MAX_LISTED_TENSORS} a certificate lists`,
    };
  const shapes = new Map(tensors.map((t) => [t.name, t]));
  const digests = await tensorDigests(description, pool);
  return {
    tensors: digests.map(({ file, name, sha256 }) => ({
      file,
      name,
      dtype: shapes.get(name)!.dtype,
      shape: shapes.get(name)!.shape,
      sha256,
    })),
  };
}

/**
 * Why the model outputs of a trainer run are not the weights of its last checkpoint, or undefined
 * when they are. Fails closed: no checkpoint, no recorded weights digest, no per-tensor digests of
 * the output, or more than one model output each count as "not tied".
 */
export function finalModelProblem(
  checkpoints: readonly CheckpointEvent[],
  outputs: readonly ArtifactEvent[],
): string | undefined {
  const last = checkpoints.at(-1);
  if (!last) return 'no checkpoint was measured during the run, so the output model is tied to no audited training';
  if (!last.weights)
    return `the certificate records no digest of checkpoint ${last.index}'s weights (it was made by an aicert that did not record them), so the output model cannot be compared with it`;
  const models = outputs.filter((o) => o.role === 'model');
  if (models.length !== 1) return `the run has ${models.length} model outputs; a trainer run ships exactly one`;
  const model = models[0]!;
  if (!model.tensors) {
    return `the certificate records no per-tensor digests of the output model ${model.name}: aicert records them only when every model file in the output is safetensors, and a protocol trainer's final model must be (docs/trainer-protocol.md)`;
  }
  let digest: string;
  try {
    digest = tensorSetDigest(model.tensors);
  } catch (err) {
    if (err instanceof InputError) return `the output model ${model.name} is not one set of tensors: ${err.message}`;
    throw err;
  }
  if (digest === last.weights.sha256 && model.tensors.length === last.weights.tensors) return undefined;
  const optimizer = model.tensors.filter((t) => t.name.startsWith(OPTIMIZER_PREFIX)).length;
  const hint = optimizer > 0 ? `; it holds ${optimizer} optimizer tensors, which the final model must leave out` : '';
  return (
    `the output model ${model.name} (${model.tensors.length} tensors, digest ${digest.slice(0, 16)}…) is not the weights of the last checkpoint ` +
    `${last.index} (${last.weights.tensors} tensors, digest ${last.weights.sha256.slice(0, 16)}…): the shipped model differs in a tensor's name, dtype, shape or bytes${hint}`
  );
}
