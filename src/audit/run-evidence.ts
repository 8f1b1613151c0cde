import { z } from 'zod';
import { InputError, VerificationError } from '../errors.js';
import { parseCertificate } from '../cert/certificate.js';
import { describeSchemaError } from '../cert/schema-error.js';
import type { EventContent } from '../evidence/event-log.js';
import type { ArtifactEvent } from '../run/artifacts.js';
import { TRAINER_PROTOCOL, type TrainerCommitment } from '../run/trainer-commitment.js';

/**
 * What a certificate that `verifyCertificate` accepted says about its trainer run: the
 * commitment (seed s, k, held-out fraction, record file), the checkpoint digests extended into
 * the PCR as the files appeared, the trainer's dataset inputs and the transcript measured at the
 * end. Call only after verification succeeded: the event contents are then the verified ones.
 */
export interface RunEvidence {
  commitment: TrainerCommitment;
  checkpoints: CheckpointDigest[];
  /** Dataset inputs with the name of the trainer's dataset (normally one). */
  datasetInputs: ArtifactEvent[];
  /** The transcript directory as measured after the run, if it was. */
  transcript?: ArtifactEvent;
}

export interface CheckpointDigest {
  index: number;
  sha256: string;
  bytes: number;
}

const hex32 = z.string().regex(/^[0-9a-f]{64}$/);

const commitmentSchema = z.looseObject({
  protocol: z.literal(TRAINER_PROTOCOL),
  seed: hex32,
  r: hex32,
  rSource: z.enum(['tpm', 'challenge']),
  checkpointEvery: z.number().int().positive(),
  holdoutFraction: z.number().min(0).lt(1),
  dataset: z.strictObject({ input: z.string().min(1), path: z.string().min(1) }),
});

const checkpointSchema = z.looseObject({ type: z.literal('checkpoint'), index: z.number().int().nonnegative(), sha256: hex32, bytes: z.number().int().nonnegative() });

export function readRunEvidence(certificate: Uint8Array): RunEvidence {
  const events: EventContent[] = parseCertificate(certificate).evidence.tpm.eventLog.map((r) => r.content);
  const trainer = events.find((e) => e.type === 'commitment')?.trainer;
  if (trainer === undefined) {
    throw new InputError('usage.no-trainer', 'the certificate has no trainer commitment: the run was not started with `aicert run --trainer`, so there is no transcript to audit');
  }
  const commitment = commitmentSchema.safeParse(trainer);
  if (!commitment.success) throw new VerificationError('audit.trainer', `the trainer commitment is malformed ${describeSchemaError(commitment.error)}`);
  const checkpoints = events.filter((e) => e.type === 'checkpoint').map((e, i) => {
    const parsed = checkpointSchema.safeParse(e);
    if (!parsed.success || parsed.data.index !== i) throw new VerificationError('audit.trainer', `checkpoint event ${i} is malformed or out of order`);
    return { index: parsed.data.index, sha256: parsed.data.sha256, bytes: parsed.data.bytes };
  });
  const artifacts = events.filter((e): e is ArtifactEvent => e.type === 'input' || e.type === 'output');
  const data = commitment.data as TrainerCommitment;
  return {
    commitment: data,
    checkpoints,
    datasetInputs: artifacts.filter((a) => a.type === 'input' && a.role === 'dataset' && a.name === data.dataset.input),
    transcript: artifacts.find((a) => a.type === 'output' && a.role === 'transcript'),
  };
}
