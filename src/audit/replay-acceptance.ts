import type { TrainingState } from '../trainer/checkpoint.js';
import { stateDistance, STATE_PARTS, type StateDistance } from './state-distance.js';

/**
 * When a replayed segment counts as reproduced. `exact`: the replayed checkpoint file has the
 * digest the TPM recorded for S_{i+1}, optimizer state included (deterministic stacks).
 * `relative`: with S′ the replayed state, for the weights W and for the optimizer state O each
 * (state-distance.ts; measured apart, as they are in different units),
 *     ‖S′ − S_{i+1}‖₂ ≤ δ·‖S′ − S_i‖₂   and   |‖S′ − S_i‖₂ − ‖S_{i+1} − S_i‖₂| ≤ δ·‖S′ − S_i‖₂.
 * Both sides are relative to the update the replay made, never absolute: an absolute δ is what
 * the infinitesimal-update attack exploits (tiny logged learning rate, replay barely moves,
 * every gap below δ). The second clause makes the claimed update as large as the real one. The
 * optimizer state must be reproduced too: a segment whose output carries momentum no training
 * produced (to steer the next segment) keeps its weights and fails on its optimizer state.
 */
export type ReplayTolerance = { mode: 'exact' } | { mode: 'relative'; delta: number };

export interface ReplayJudgement {
  accepted: boolean;
  digestEqual: boolean;
  /** ‖W′ − W_{i+1}‖₂ and ‖W′ − W_i‖₂ (weights). */
  distance: number;
  replayedUpdate: number;
  /** The same for the optimizer state. */
  optimizerDistance: number;
  optimizerReplayedUpdate: number;
  reason: string;
}

const PART_NAMES = { weights: 'weights', optimizer: 'optimizer state' } as const;

export function judgeReplay(
  tolerance: ReplayTolerance,
  digestEqual: boolean,
  checkpoints: { before: TrainingState; claimed: TrainingState; replayed: TrainingState },
  claimedUpdate: StateDistance,
): ReplayJudgement {
  const distance = stateDistance(checkpoints.replayed, checkpoints.claimed, 'the replayed and the claimed checkpoint');
  const update = stateDistance(checkpoints.replayed, checkpoints.before, 'the replayed checkpoint and its start');
  const numbers = STATE_PARTS.map(
    (p) =>
      `${PART_NAMES[p]}: ‖S′−S_{i+1}‖ = ${fmt(distance[p])}, replayed update ${fmt(update[p])}, claimed ${fmt(claimedUpdate[p])}`,
  ).join('; ');
  const judged = (accepted: boolean, reason: string): ReplayJudgement => ({
    accepted,
    digestEqual,
    distance: distance.weights,
    replayedUpdate: update.weights,
    optimizerDistance: distance.optimizer,
    optimizerReplayedUpdate: update.optimizer,
    reason,
  });
  if (digestEqual) return judged(true, 'reproduced bit for bit (same digest)');
  if (tolerance.mode === 'exact')
    return judged(false, `the replay's digest differs from the checkpoint's (${numbers})`);
  for (const part of STATE_PARTS) {
    const bound = tolerance.delta * update[part];
    const close = distance[part] <= bound;
    const sameSize = Math.abs(update[part] - claimedUpdate[part]) <= bound;
    if (!close || !sameSize) {
      return judged(
        false,
        `${PART_NAMES[part]}: ${close ? 'the update sizes differ' : 'the replay lands elsewhere'} (${numbers}); both must be within δ·‖S′−S_i‖ = ${fmt(bound)}`,
      );
    }
  }
  return judged(true, `reproduced within δ = ${fmt(tolerance.delta)} (${numbers})`);
}

function fmt(x: number): string {
  return x.toPrecision(3);
}
