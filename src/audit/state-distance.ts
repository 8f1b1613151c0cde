import { VerificationError } from '../errors.js';
import { OPTIMIZER_PREFIX, tensorValues, type TrainingState } from '../trainer/checkpoint.js';

/**
 * ‖a − b‖₂ over the whole training state of two checkpoints, in two parts measured apart: the
 * weights (tensors not under "optimizer/") and the optimizer state (momentum, moments, step
 * counters under "optimizer/"). Apart, because the two are in different units: momentum is a
 * sum of gradients, not a position, and a step counter grows by k every segment; one norm over
 * both would let the larger part hide a change in the smaller. Both checkpoints must hold the
 * same tensors with the same dtypes and shapes, optimizer state included; anything else is not the
 * same training state, and the audit fails. Whatever the dtype (F64, F32, F16, BF16), each value is
 * decoded exactly (tensorValues) and differences and sums are computed in float64, so a distance
 * is the same number whichever dtype the trainer stored, for the same values.
 */
export interface StateDistance {
  weights: number;
  optimizer: number;
}

export const STATE_PARTS = ['weights', 'optimizer'] as const satisfies ReadonlyArray<keyof StateDistance>;

export function stateDistance(a: TrainingState, b: TrainingState, what: string): StateDistance {
  if (a.size !== b.size) throw mismatch(what, `${a.size} against ${b.size} tensors`);
  const sums: StateDistance = { weights: 0, optimizer: 0 };
  for (const [name, ta] of a) {
    const tb = b.get(name);
    if (!tb) throw mismatch(what, `tensor "${name}" is missing from one of them`);
    if (ta.shape.join() !== tb.shape.join())
      throw mismatch(what, `tensor "${name}" has shape [${ta.shape}] against [${tb.shape}]`);
    if (ta.dtype !== tb.dtype) throw mismatch(what, `tensor "${name}" is ${ta.dtype} against ${tb.dtype}`);
    const x = tensorValues(ta);
    const y = tensorValues(tb);
    let sum = 0;
    for (let i = 0; i < x.length; i++) {
      const d = x[i]! - y[i]!;
      sum += d * d;
    }
    sums[name.startsWith(OPTIMIZER_PREFIX) ? 'optimizer' : 'weights'] += sum;
  }
  if ([...a.keys()].every((name) => name.startsWith(OPTIMIZER_PREFIX))) throw mismatch(what, 'they hold no weights');
  if (!Number.isFinite(sums.weights) || !Number.isFinite(sums.optimizer))
    throw mismatch(what, 'the state holds NaN or infinite values');
  return { weights: Math.sqrt(sums.weights), optimizer: Math.sqrt(sums.optimizer) };
}

function mismatch(what: string, detail: string): VerificationError {
  return new VerificationError('audit.checkpoint-shape', `${what} are not states of the same training: ${detail}`);
}
