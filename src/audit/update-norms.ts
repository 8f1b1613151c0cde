import { readTrainingState } from '../trainer/index.js';
import { checkpointPath } from '../protocol/transcript-layout.js';
import { stateDistance, STATE_PARTS, type StateDistance } from './state-distance.js';

/**
 * ‖S_{i+1} − S_i‖₂ of every segment of the transcript, weights and optimizer state apart
 * (state-distance.ts), reading each checkpoint once.
 */
export async function segmentUpdateNorms(transcript: string, checkpoints: number): Promise<StateDistance[]> {
  const norms: StateDistance[] = [];
  let previous = await readTrainingState(checkpointPath(transcript, 0));
  for (let i = 1; i < checkpoints; i++) {
    const next = await readTrainingState(checkpointPath(transcript, i));
    norms.push(stateDistance(previous, next, `checkpoints ${i - 1} and ${i}`));
    previous = next;
  }
  return norms;
}

/**
 * What the top-Q pass ranks segments by: how far the segment moved the training state compared
 * with a typical segment, in whichever part it moved more unusually,
 *     score_i = max over parts p of ‖ΔS_i‖_p / median_j ‖ΔS_j‖_p.
 * For the weights alone this is Proof-of-Learning's rule (the ranking by ‖ΔW‖ is unchanged: the
 * median is one constant). The optimizer state counts as well, by its own scale: a segment whose
 * end state carries momentum no training explains (set to steer the next segment, which then
 * replays bit for bit and shows the largest weight update) moves the optimizer state far more
 * than a segment does, and ranks at the top with it. A part that no segment changes typically
 * (median 0) ranks any change of it above everything else.
 */
export function rankingScores(norms: readonly StateDistance[]): number[] {
  const medians = STATE_PARTS.map((part) => median(norms.map((n) => n[part])));
  return norms.map((n) =>
    Math.max(
      ...STATE_PARTS.map((part, j) =>
        n[part] === 0 ? 0 : medians[j]! > 0 ? n[part] / medians[j]! : Number.POSITIVE_INFINITY,
      ),
    ),
  );
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return 0;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
