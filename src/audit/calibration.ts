import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { VerificationError } from '../errors.js';
import { readCheckpointFile, writeCheckpointFile, SeedStream, type Checkpoint } from '../trainer/index.js';
import { checkpointPath, TRANSCRIPT_BATCHES, TRANSCRIPT_CHECKPOINTS, TRANSCRIPT_META } from '../protocol/transcript-layout.js';
import { weightDistance } from './weight-distance.js';

/**
 * `--tolerance calibrated`: measure how far an honest replay wanders on this verifier's setup,
 * then accept segments within a margin of that.
 *
 * Replaying a segment twice on one machine says nothing when the stack is deterministic (both
 * replays agree bit for bit) and yet the prover's machine (another backend, another BLAS) may
 * legitimately differ. What differs between floating-point stacks is rounding, and how much
 * training amplifies a rounding difference over k steps is measurable: replay the segment once
 * from W_i and once from W_i with the last mantissa bit of every value flipped at random (a
 * one-ulp perturbation, drawn from the audit seed), and take
 *     ratio = ‖W′ − W̃′‖₂ / ‖W′ − W_i‖₂.
 * δ = margin × the largest ratio over a few segments. The trainer is the prover's code and could
 * answer calibration replays with noise to inflate δ, so δ is capped: above MAX_CALIBRATED_DELTA
 * a replay no longer shows that the claimed update was computed, and the audit fails instead.
 */
export const CALIBRATION_SEGMENTS = 3;
export const CALIBRATION_MARGIN = 10;
export const MAX_CALIBRATED_DELTA = 0.01;

/** Replays segment i (from the audited transcript, or from `transcript`) and returns the output checkpoint's path. */
export type ReplaySegment = (segment: number, transcript?: string) => Promise<string>;

export interface CalibrationResult {
  segments: number[];
  ratios: number[];
  delta: number;
}

export async function calibrate(segments: readonly number[], transcript: string, auditSeed: Buffer, work: string, replay: ReplaySegment): Promise<CalibrationResult> {
  const ratios: number[] = [];
  for (const i of segments) {
    const start = await readCheckpointFile(checkpointPath(transcript, i));
    const replayed = await readCheckpointFile(await replay(i));
    const perturbed = await perturbedTranscript(transcript, i, roundingPerturbation(start, new SeedStream(auditSeed, `aicert/audit/calibration/${i}`)), join(work, `calibration-${i}`));
    const wandered = await readCheckpointFile(await replay(i, perturbed));
    const update = weightDistance(replayed, start, `segment ${i}'s replay and its start`);
    ratios.push(update > 0 ? weightDistance(replayed, wandered, `segment ${i}'s replays from W_i and from a perturbed W_i`) / update : 0);
  }
  const delta = CALIBRATION_MARGIN * Math.max(0, ...ratios);
  if (delta > MAX_CALIBRATED_DELTA) {
    throw new VerificationError(
      'audit.calibration',
      `a one-ulp perturbation moves an honest replay by up to ${Math.max(...ratios).toPrecision(3)} of its update, so δ would be ${delta.toPrecision(3)}, above the ${MAX_CALIBRATED_DELTA} at which a replay still shows the update was computed; audit on a setup that reproduces the run more closely`,
    );
  }
  return { segments: [...segments], ratios, delta };
}

/** Flips the lowest mantissa bit of each value (weights and optimizer state) with probability ½. */
export function roundingPerturbation(checkpoint: Checkpoint, stream: SeedStream): Checkpoint {
  const out: Checkpoint = new Map();
  for (const [name, tensor] of checkpoint) {
    const data = Float32Array.from(tensor.data);
    const bits = new Uint32Array(data.buffer);
    const coins = stream.nextBytes(Math.ceil(bits.length / 8));
    for (let j = 0; j < bits.length; j++) if ((coins[j >> 3]! >> (j & 7)) & 1 && Number.isFinite(data[j]!)) bits[j]! ^= 1;
    out.set(name, { dtype: 'F32', shape: [...tensor.shape], data });
  }
  return out;
}

/**
 * A transcript a replay of segment i can run from: the audited meta.json and batches.jsonl (linked,
 * not copied: batch logs can be large) and the perturbed checkpoint i.
 */
async function perturbedTranscript(transcript: string, segment: number, start: Checkpoint, dir: string): Promise<string> {
  await mkdir(join(dir, TRANSCRIPT_CHECKPOINTS), { recursive: true });
  for (const file of [TRANSCRIPT_META, TRANSCRIPT_BATCHES]) await symlink(join(transcript, file), join(dir, file));
  await writeCheckpointFile(checkpointPath(dir, segment), start);
  return dir;
}
