import type { Checkpoint } from '../trainer/checkpoint.js';
import { weightDistance } from './weight-distance.js';

/**
 * When a replayed segment counts as reproduced. `exact`: the replayed checkpoint file has the
 * digest the TPM recorded for W_{i+1} (deterministic stacks). `relative`: with W′ the replayed
 * weights,
 *     ‖W′ − W_{i+1}‖₂ ≤ δ·‖W′ − W_i‖₂   and   |‖W′ − W_i‖₂ − ‖W_{i+1} − W_i‖₂| ≤ δ·‖W′ − W_i‖₂.
 * Both sides are relative to the update the replay made, never absolute: an absolute δ is what
 * the infinitesimal-update attack exploits (tiny logged learning rate, replay barely moves,
 * every gap below δ). The second clause makes the claimed update as large as the real one.
 */
export type ReplayTolerance = { mode: 'exact' } | { mode: 'relative'; delta: number };

export interface ReplayJudgement {
  accepted: boolean;
  digestEqual: boolean;
  distance: number;
  replayedUpdate: number;
  reason: string;
}

export function judgeReplay(
  tolerance: ReplayTolerance,
  digestEqual: boolean,
  checkpoints: { before: Checkpoint; claimed: Checkpoint; replayed: Checkpoint },
  claimedUpdate: number,
): ReplayJudgement {
  const distance = weightDistance(checkpoints.replayed, checkpoints.claimed, 'the replayed and the claimed checkpoint');
  const replayedUpdate = weightDistance(checkpoints.replayed, checkpoints.before, 'the replayed checkpoint and its start');
  const numbers = `‖W′−W_{i+1}‖ = ${fmt(distance)}, replayed update ${fmt(replayedUpdate)}, claimed update ${fmt(claimedUpdate)}`;
  if (digestEqual) return { accepted: true, digestEqual, distance, replayedUpdate, reason: 'reproduced bit for bit (same digest)' };
  if (tolerance.mode === 'exact') return { accepted: false, digestEqual, distance, replayedUpdate, reason: `the replay's digest differs from the checkpoint's (${numbers})` };
  const bound = tolerance.delta * replayedUpdate;
  const close = distance <= bound;
  const sameSize = Math.abs(replayedUpdate - claimedUpdate) <= bound;
  const reason = close && sameSize
    ? `reproduced within δ = ${fmt(tolerance.delta)} (${numbers})`
    : `${close ? 'the update sizes differ' : 'the replay lands elsewhere'}: ${numbers}; both must be within δ·‖W′−W_i‖ = ${fmt(bound)}`;
  return { accepted: close && sameSize, digestEqual, distance, replayedUpdate, reason };
}

function fmt(x: number): string {
  return x.toPrecision(3);
}
