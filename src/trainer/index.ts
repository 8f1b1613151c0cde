/**
 * aicert/trainer: the TypeScript SDK of the aicert trainer protocol (docs/trainer-protocol.md).
 * A training program uses it to read its AICERT_* environment, derive its held-out records, data
 * order and initialization from the committed seed, and write the transcript that `aicert run`
 * measures and `aicert audit` replays. python/aicert_trainer.py is the same SDK for Python.
 */
export { readTrainerEnvironment, type TrainerEnvironment, type TrainerMode } from '../protocol/trainer-environment.js';
export { SEED_BYTES, SeedStream } from './seed-stream.js';
export { batchSchedule, epochOrder, holdoutCount, holdoutMillionths, splitHoldout } from './data-order.js';
export {
  MAX_CHECKPOINT_BYTES,
  OPTIMIZER_PREFIX,
  readCheckpointFile,
  readTrainingState,
  tensorValues,
  weightsOf,
  writeCheckpointFile,
  type Checkpoint,
  type CheckpointTensor,
  type Tensor,
  type TrainingState,
} from './checkpoint.js';
export { encodeF32Safetensors, encodeSafetensors } from './safetensors-writer.js';
export { decodeHalf, encodeHalf, roundToHalf, type HalfFormat } from './float-formats.js';
export { CHECKPOINT_DTYPES, type CheckpointDtype } from '../protocol/checkpoint-dtypes.js';
export { checkpointPath } from '../protocol/transcript-layout.js';
export { TranscriptWriter, readBatches, readTranscriptMeta, type TranscriptMeta } from './transcript.js';
export { isRecordIndex, readRecordIndices } from './record-indices.js';
export { readLosses, writeLosses } from './losses.js';
