/**
 * What `aicert trainer check` can find wrong with a protocol trainer, each under a stable id
 * (scripts and docs/trainer-protocol.md, "Conformance checklist", use them). Each is something
 * that would make `aicert run` refuse the run, `aicert verify` refuse its certificate, or an
 * honest run fail its audit.
 */
export const DEVIATIONS = {
  'train.exit': 'train mode exited non-zero, was killed, or overran the timeout',
  'transcript.checkpoints':
    'no checkpoint, checkpoint files not numbered 000000, 000001, … without gaps, or not strict safetensors',
  'checkpoint.dtype': 'a checkpoint holds a tensor that is not F64, F32, F16 or BF16 (aicert run refuses it)',
  'checkpoint.tensors': 'the checkpoints do not all hold the same tensors (names, dtypes and shapes)',
  'transcript.meta': 'meta.json is missing or malformed, or disagrees with k, the record count or the checkpoints',
  'transcript.batches':
    'batches.jsonl is malformed, or is not the data order derived from the seed (wrong order, held-out records)',
  'final.missing': 'no safetensors model in the output directory, or one that cannot be read',
  'final.not-last-checkpoint': 'the final model is not exactly the weights of the last checkpoint (trainer.final)',
  'init.exit': 'init mode exited non-zero, was killed, overran the timeout or wrote nothing',
  'init.tensors': "init's W0 does not hold checkpoint 0's tensors (names, dtypes, shapes; optimizer/ included)",
  'init.differs': "init's W0 is not checkpoint 0 byte for byte",
  'replay.exit': 'replay mode exited non-zero, was killed, overran the timeout or wrote nothing',
  'replay.tensors': "a replay does not output checkpoint i+1's tensors (names, dtypes, shapes; optimizer/ included)",
  'replay.nondeterministic': 'two replays of the same segment differ',
  'replay.differs': 'a replay is not the recorded checkpoint i+1 byte for byte',
  'loss.exit': 'loss mode exited non-zero, was killed, overran the timeout or wrote nothing',
  'loss.output': 'loss mode wrote something other than {"losses": [one finite number per record]}',
  'protocol.version': 'the trainer answered a request of AICERT_TRAINER_PROTOCOL=2 instead of refusing it',
} as const;

export type DeviationId = keyof typeof DEVIATIONS;

export interface Deviation {
  id: DeviationId;
  /** What was found, in one line. */
  detail: string;
}
