import { endianness } from 'node:os';
import { readFile } from 'node:fs/promises';
import { InputError } from '../errors.js';
import { readSafetensorsHeader } from '../measure/formats/safetensors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { encodeF32Safetensors } from './safetensors-writer.js';
import { OPTIMIZER_PREFIX } from '../protocol/model-tensors.js';

/**
 * A checkpoint of a protocol trainer: named F32 tensors, the model's weights plus, under names
 * prefixed "optimizer/", every piece of optimizer state a replay needs (docs/trainer-protocol.md,
 * "The transcript directory"). Stored as safetensors.
 */

export interface Tensor {
  dtype: 'F32';
  shape: number[];
  data: Float32Array;
}

export type Checkpoint = Map<string, Tensor>;

/** Defined with the run's contract: `aicert run` and `aicert verify` tell weights from optimizer state by it too. */
export { OPTIMIZER_PREFIX };

/** The SDK reads whole checkpoints into memory; refuse absurd sizes before reading. */
export const MAX_CHECKPOINT_BYTES = 1024 * 1024 * 1024;

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/** Writes the checkpoint atomically (temp file + rename), so a file under its final name is complete. */
export async function writeCheckpointFile(path: string, checkpoint: Checkpoint): Promise<void> {
  await writeFileAtomic(path, encodeF32Safetensors(checkpoint));
}

/** Reads a checkpoint whose header passes aicert's strict safetensors parser and whose tensors are all F32. */
export async function readCheckpointFile(path: string): Promise<Checkpoint> {
  const header = readSafetensorsHeader(path);
  if (header.fileSize > MAX_CHECKPOINT_BYTES) {
    throw new InputError(
      'trainer.checkpoint-too-large',
      `${path} is ${header.fileSize} bytes, more than the ${MAX_CHECKPOINT_BYTES}-byte limit of the TypeScript SDK`,
    );
  }
  const bytes = await readFile(path);
  if (bytes.length !== header.fileSize)
    throw new InputError('trainer.checkpoint-changed', `${path} changed while it was being read`);
  const checkpoint: Checkpoint = new Map();
  for (const { name, dtype, shape, start, end } of header.tensors) {
    if (dtype !== 'F32')
      throw new InputError(
        'trainer.checkpoint-dtype',
        `${path}: tensor "${name}" is ${dtype}; checkpoints hold F32 tensors only`,
      );
    checkpoint.set(name, { dtype: 'F32', shape, data: decodeF32(bytes.subarray(start, end)) });
  }
  return checkpoint;
}

/** The model's weights: every tensor not prefixed "optimizer/". Distances and update norms use these only. */
export function weightsOf(checkpoint: Checkpoint): Checkpoint {
  return new Map([...checkpoint].filter(([name]) => !name.startsWith(OPTIMIZER_PREFIX)));
}

function decodeF32(bytes: Buffer): Float32Array {
  const values = new Float32Array(bytes.length / 4);
  if (LITTLE_ENDIAN_HOST) {
    new Uint8Array(values.buffer).set(bytes); // a fresh, aligned copy: bytes may sit at any offset
  } else {
    const view = new DataView(values.buffer);
    for (let i = 0; i < values.length; i++) view.setUint32(4 * i, bytes.readUInt32LE(4 * i), false);
  }
  return values;
}
