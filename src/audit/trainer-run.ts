import { UsageError } from '../errors.js';
import type { ArtifactEvent, CheckpointEvent } from '../protocol/run-events.js';
import type { TrainerCommitment } from '../protocol/trainer-commitment.js';
import type { VerifiedRun } from '../verify/verified-run.js';

/**
 * What a verified protocol-trainer run says about its training, for the audit: the commitment
 * (seed s, k, held-out fraction, record file), the checkpoint digests extended into the PCR as
 * the files appeared, the trainer's dataset inputs and the transcript measured at the end.
 */
export interface TrainerRun {
  commitment: TrainerCommitment;
  checkpoints: CheckpointEvent[];
  /** Dataset inputs with the name of the trainer's dataset (normally one). */
  datasetInputs: ArtifactEvent[];
  /** The transcript directory as measured after the run, if it was. */
  transcript?: ArtifactEvent;
}

export function trainerRunOf(run: VerifiedRun): TrainerRun {
  const commitment = run.commitment.trainer;
  if (commitment === undefined) {
    throw new UsageError(
      'usage.no-trainer',
      'the certificate has no trainer commitment: the run was not started with `aicert run --trainer`, so there is no transcript to audit',
    );
  }
  return {
    commitment,
    checkpoints: run.checkpoints,
    datasetInputs: run.inputs.filter((a) => a.role === 'dataset' && a.name === commitment.dataset.input),
    transcript: run.outputs.find((a) => a.role === 'transcript'),
  };
}
