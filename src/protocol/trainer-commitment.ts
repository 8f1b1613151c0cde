import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalize } from '../util/jcs.js';
import type { ArtifactEvent } from './run-events.js';

/** Trainer protocol version aicert speaks (docs/trainer-protocol.md). */
export const TRAINER_PROTOCOL = 1;

const hex32 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits');

/** What the commitment event records about a protocol trainer, fixed before training starts. */
export const trainerCommitmentSchema = z.strictObject({
  protocol: z.literal(TRAINER_PROTOCOL),
  /** s, hex: the seed every random choice of the trainer derives from. */
  seed: hex32,
  /** r, hex: the randomness mixed into s. */
  r: hex32,
  /**
   * Where r came from: the TPM's RNG, a challenge a verifier gave before the run, or (a node of
   * rank ≥ 1 of a group run) the group commitment, which rank 0 fixed.
   */
  rSource: z.enum(['tpm', 'challenge', 'group']),
  checkpointEvery: z.number().int().positive(),
  holdoutFraction: z.number().min(0).lt(1),
  /** The record file trained on: dataset input name and the file's path inside it ('.' for a file). */
  dataset: z.strictObject({ input: z.string().min(1), path: z.string().min(1) }),
});
export type TrainerCommitment = z.infer<typeof trainerCommitmentSchema>;

/**
 * s = SHA-256(JCS({code, config, data, r})) over the content digests of the run's inputs, so
 * changing any input byte, or the randomness, changes the initialization and the data order.
 */
export function trainerSeed(inputs: ReadonlyArray<Pick<ArtifactEvent, 'role' | 'digest'>>, r: Buffer): Buffer {
  const code = inputs.find((i) => i.role === 'code')?.digest.sha256 ?? null;
  const config = inputs.find((i) => i.role === 'config')?.digest.sha256 ?? null;
  const data = inputs.filter((i) => i.role === 'dataset').map((i) => i.digest.sha256);
  return createHash('sha256')
    .update(canonicalize({ code, config, data, r: r.toString('hex') }), 'utf8')
    .digest();
}
