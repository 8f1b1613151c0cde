import { VerificationError } from '../errors.js';
import { weightsOf, type Checkpoint } from '../trainer/checkpoint.js';

/**
 * ‖a − b‖₂ over the model's weights (every tensor not under "optimizer/"), accumulated in
 * float64. Both checkpoints must hold the same weight tensors with the same shapes; anything
 * else is not the same model, and the audit fails.
 */
export function weightDistance(a: Checkpoint, b: Checkpoint, what: string): number {
  const wa = weightsOf(a);
  const wb = weightsOf(b);
  if (wa.size !== wb.size || wa.size === 0) throw mismatch(what, `${wa.size} against ${wb.size} weight tensors`);
  let sum = 0;
  for (const [name, ta] of wa) {
    const tb = wb.get(name);
    if (!tb) throw mismatch(what, `tensor "${name}" is missing from one of them`);
    if (ta.shape.join() !== tb.shape.join()) throw mismatch(what, `tensor "${name}" has shape [${ta.shape}] against [${tb.shape}]`);
    const x = ta.data;
    const y = tb.data;
    for (let i = 0; i < x.length; i++) {
      const d = x[i]! - y[i]!;
      sum += d * d;
    }
  }
  if (!Number.isFinite(sum)) throw mismatch(what, 'the weights hold NaN or infinite values');
  return Math.sqrt(sum);
}

function mismatch(what: string, detail: string): VerificationError {
  return new VerificationError('audit.checkpoint-shape', `${what} are not weights of the same model: ${detail}`);
}
