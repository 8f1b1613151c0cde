import { endianness } from 'node:os';
import { readFile } from 'node:fs/promises';
import { InputError } from '../errors.js';
import { readSafetensorsHeader } from '../measure/formats/safetensors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { encodeSafetensors } from './safetensors-writer.js';
import { decodeHalf } from './float-formats.js';
import { OPTIMIZER_PREFIX } from '../protocol/model-tensors.js';
import { isCheckpointDtype, uncheckableDtype, type CheckpointDtype } from '../protocol/checkpoint-dtypes.js';

/**
 * A checkpoint of a protocol trainer: named tensors, the model's weights plus, under names
 * prefixed "optimizer/", every piece of optimizer state a replay needs (docs/trainer-protocol.md,
 * "The transcript directory"). Stored as safetensors. The SDKs write and read F32 checkpoints
 * (`Checkpoint`); a trainer may store F64, F16 or BF16 tensors instead (`TrainingState`), which
 * `writeCheckpointFile` writes and `readTrainingState` reads as well.
 */

export interface Tensor {
  dtype: 'F32';
  shape: number[];
  data: Float32Array;
}

export type Checkpoint = Map<string, Tensor>;

/** A tensor of any checkpoint dtype: F16 and BF16 as their bit patterns, to be kept bit for bit. */
export type CheckpointTensor =
  | Tensor
  | { dtype: 'F64'; shape: number[]; data: Float64Array }
  | { dtype: 'F16' | 'BF16'; shape: number[]; data: Uint16Array };

/** A checkpoint whose tensors may have any checkpoint dtype (protocol/checkpoint-dtypes.ts). */
export type TrainingState = ReadonlyMap<string, CheckpointTensor>;

/** Defined with the run's contract: `aicert run` and `aicert verify` tell weights from optimizer state by it too. */
export { OPTIMIZER_PREFIX };

/** The SDK reads whole checkpoints into memory; refuse absurd sizes before reading. */
export const MAX_CHECKPOINT_BYTES = 1024 * 1024 * 1024;

const LITTLE_ENDIAN_HOST = endianness() === 'LE';
const ELEMENT_BYTES: Readonly<Record<CheckpointDtype, number>> = { F64: 8, F32: 4, F16: 2, BF16: 2 };

/** Writes the checkpoint atomically (temp file + rename), so a file under its final name is complete. */
export async function writeCheckpointFile(path: string, checkpoint: TrainingState): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(checkpoint));
}

/** Reads a checkpoint whose header passes aicert's strict safetensors parser and whose tensors are all F32. */
export async function readCheckpointFile(path: string): Promise<Checkpoint> {
  const state = await readTrainingState(path);
  const checkpoint: Checkpoint = new Map();
  for (const [name, tensor] of state) {
    if (tensor.dtype !== 'F32')
      throw new InputError(
        'trainer.checkpoint-dtype',
        `${path}: tensor "${name}" is ${tensor.dtype}; the SDK's checkpoints hold F32 tensors only (readTrainingState reads the others)`,
      );
    checkpoint.set(name, tensor);
  }
  return checkpoint;
}

/** Reads a checkpoint of F64, F32, F16 or BF16 tensors, each kept in its own dtype; any other dtype is refused. */
export async function readTrainingState(path: string): Promise<Map<string, CheckpointTensor>> {
  const header = readSafetensorsHeader(path);
  if (header.fileSize > MAX_CHECKPOINT_BYTES) {
    throw new InputError(
      'trainer.checkpoint-too-large',
      `${path} is ${header.fileSize} bytes, more than the ${MAX_CHECKPOINT_BYTES}-byte limit of the TypeScript SDK`,
    );
  }
  const problem = uncheckableDtype(header.tensors);
  if (problem) throw new InputError('trainer.checkpoint-dtype', `${path}: ${problem}`);
  const bytes = await readFile(path);
  if (bytes.length !== header.fileSize)
    throw new InputError('trainer.checkpoint-changed', `${path} changed while it was being read`);
  const state = new Map<string, CheckpointTensor>();
  for (const { name, dtype, shape, start, end } of header.tensors) {
    if (!isCheckpointDtype(dtype)) throw new Error('unreachable: dtypes were checked');
    state.set(name, decodeTensor(dtype, shape, bytes.subarray(start, end)));
  }
  return state;
}

/** The model's weights: every tensor not prefixed "optimizer/". */
export function weightsOf<T extends CheckpointTensor>(checkpoint: ReadonlyMap<string, T>): Map<string, T> {
  return new Map([...checkpoint].filter(([name]) => !name.startsWith(OPTIMIZER_PREFIX)));
}

/**
 * A tensor's values, exactly: F64 as is, F32 as is, F16 and BF16 decoded into float32 (every value
 * of theirs is a float32 value). Distances computed from these in float64 are exact up to the
 * float64 rounding of the sums.
 */
export function tensorValues(tensor: CheckpointTensor): Float32Array | Float64Array {
  switch (tensor.dtype) {
    case 'F16':
    case 'BF16':
      return decodeHalf(tensor.dtype, tensor.data);
    default:
      return tensor.data;
  }
}

/** Little-endian bytes as a fresh, aligned array of the dtype (bytes may sit at any offset). */
function decodeTensor(dtype: CheckpointDtype, shape: number[], bytes: Buffer): CheckpointTensor {
  const size = ELEMENT_BYTES[dtype];
  const buffer = new ArrayBuffer(bytes.length);
  const view = new Uint8Array(buffer);
  if (LITTLE_ENDIAN_HOST) view.set(bytes);
  else for (let i = 0; i < bytes.length; i++) view[i] = bytes[i - (i % size) + size - 1 - (i % size)]!;
  switch (dtype) {
    case 'F64':
      return { dtype, shape, data: new Float64Array(buffer) };
    case 'F32':
      return { dtype, shape, data: new Float32Array(buffer) };
    default:
      return { dtype, shape, data: new Uint16Array(buffer) };
  }
}
