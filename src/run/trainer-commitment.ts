import { createHash } from 'node:crypto';
import { canonicalize } from '../evidence/jcs.js';
import type { ArtifactEvent } from './artifacts.js';

/** Trainer protocol version aicert speaks (docs/trainer-protocol.md). */
export const TRAINER_PROTOCOL = 1;

/** What the commitment event records about a protocol trainer, fixed before training starts. */
export interface TrainerCommitment {
  protocol: typeof TRAINER_PROTOCOL;
  /** s, hex: the seed every random choice of the trainer derives from. */
  seed: string;
  /** r, hex: the randomness mixed into s. */
  r: string;
  /** Where r came from: the TPM's RNG, or a challenge a verifier gave before the run. */
  rSource: 'tpm' | 'challenge';
  checkpointEvery: number;
  holdoutFraction: number;
  /** The record file trained on: dataset input name and the file's path inside it ('.' for a file). */
  dataset: { input: string; path: string };
}

/**
 * s = SHA-256(JCS({code, config, data, r})) over the content digests of the run's inputs, so
 * changing any input byte, or the randomness, changes the initialization and the data order.
 */
export function trainerSeed(inputs: readonly ArtifactEvent[], r: Buffer): Buffer {
  const code = inputs.find((i) => i.role === 'code')?.digest.sha256 ?? null;
  const config = inputs.find((i) => i.role === 'config')?.digest.sha256 ?? null;
  const data = inputs.filter((i) => i.role === 'dataset').map((i) => i.digest.sha256);
  return createHash('sha256').update(canonicalize({ code, config, data, r: r.toString('hex') }), 'utf8').digest();
}
