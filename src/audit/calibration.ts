import { endianness } from 'node:os';
import { VerificationError } from '../errors.js';
import {
  readTrainingState,
  SeedStream,
  tensorValues,
  type CheckpointTensor,
  type TrainingState,
} from '../trainer/index.js';
import { checkpointPath } from '../protocol/transcript-layout.js';
import { stateDistance, STATE_PARTS } from './state-distance.js';

/**
 * `--tolerance calibrated`: measure how far an honest replay wanders on this verifier's setup,
 * then accept segments within a margin of that.
 *
 * Replaying a segment twice on one machine says nothing when the stack is deterministic (both
 * replays agree bit for bit) and yet the prover's machine (another backend, another BLAS) may
 * legitimately differ. What differs between floating-point stacks is rounding, and how much
 * training amplifies a rounding difference over k steps is measurable: replay the segment once
 * from S_i and once from S_i with the last mantissa bit of every value (weights and optimizer
 * state) flipped at random (a one-ulp perturbation, drawn from the audit seed), and take
 *     ratio = ‖S′ − S̃′‖₂ / ‖S′ − S_i‖₂, for the weights and the optimizer state apart, the larger.
 * δ = margin × the largest ratio over a few segments. The trainer is the prover's code and could
 * answer calibration replays with noise to inflate δ, so δ is capped: above MAX_CALIBRATED_DELTA
 * a replay no longer shows that the claimed update was computed, and the audit fails instead.
 */
export const CALIBRATION_SEGMENTS = 3;
export const CALIBRATION_MARGIN = 10;
export const MAX_CALIBRATED_DELTA = 0.01;

/** Replays segment i from checkpoint i of the audited transcript, or from `start` in its place, and returns the output checkpoint's path. */
export type ReplaySegment = (segment: number, start?: TrainingState) => Promise<string>;

export interface CalibrationResult {
  segments: number[];
  ratios: number[];
  delta: number;
}

export async function calibrate(
  segments: readonly number[],
  transcript: string,
  auditSeed: Buffer,
  replay: ReplaySegment,
): Promise<CalibrationResult> {
  const ratios: number[] = [];
  for (const i of segments) {
    const start = await readTrainingState(checkpointPath(transcript, i));
    const replayed = await readTrainingState(await replay(i));
    const wandered = await readTrainingState(
      await replay(i, roundingPerturbation(start, new SeedStream(auditSeed, `aicert/audit/calibration/${i}`))),
    );
    // Weights and optimizer state apart, as replays are judged (replay-acceptance.ts): the larger ratio counts.
    const update = stateDistance(replayed, start, `segment ${i}'s replay and its start`);
    const wander = stateDistance(replayed, wandered, `segment ${i}'s replays from S_i and from a perturbed S_i`);
    ratios.push(Math.max(...STATE_PARTS.map((part) => (update[part] > 0 ? wander[part] / update[part] : 0))));
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

/**
 * Flips the lowest mantissa bit of each finite value (weights and optimizer state) with probability
 * ½, in the tensor's own dtype: one ulp of an F64, F32, F16 or BF16 value alike, since in each the
 * lowest bit of the element's bit pattern is the last fraction bit.
 */
export function roundingPerturbation(checkpoint: TrainingState, stream: SeedStream): TrainingState {
  const out = new Map<string, CheckpointTensor>();
  for (const [name, tensor] of checkpoint) {
    const values = tensorValues(tensor);
    const copy = { ...tensor, shape: [...tensor.shape], data: tensor.data.slice() } as CheckpointTensor;
    const size = copy.data.BYTES_PER_ELEMENT;
    const bytes = new Uint8Array(copy.data.buffer, copy.data.byteOffset, copy.data.byteLength);
    const lowest = LITTLE_ENDIAN_HOST ? 0 : size - 1;
    const coins = stream.nextBytes(Math.ceil(values.length / 8));
    for (let j = 0; j < values.length; j++)
      if ((coins[j >> 3]! >> (j & 7)) & 1 && Number.isFinite(values[j]!)) bytes[j * size + lowest]! ^= 1;
    out.set(name, copy);
  }
  return out;
}

const LITTLE_ENDIAN_HOST = endianness() === 'LE';
