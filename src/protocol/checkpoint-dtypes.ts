/**
 * The dtypes a protocol trainer's checkpoints may hold (docs/trainer-protocol.md, "Checkpoint
 * dtypes"): the four floating-point formats trainers save, each of which the audit decodes exactly
 * into float64 to measure distances and update norms (docs/audit.md, "Checkpoint dtypes").
 * `aicert run` refuses a checkpoint with any other tensor (integers, booleans, 8-bit and smaller
 * floats, complex numbers) before it writes a certificate, and `aicert audit` refuses to audit one:
 * a run is certified only if it can be audited. Why the others are out: a relative tolerance needs
 * a distance in the tensor's own units and calibration needs a one-ulp perturbation of every value,
 * which integers and booleans lack; F8 and smaller formats are block-scaled or saturating encodings
 * whose value depends on conventions the safetensors header does not fix.
 */
export const CHECKPOINT_DTYPES = ['F64', 'F32', 'F16', 'BF16'] as const;
export type CheckpointDtype = (typeof CHECKPOINT_DTYPES)[number];

export function isCheckpointDtype(dtype: string): dtype is CheckpointDtype {
  return (CHECKPOINT_DTYPES as readonly string[]).includes(dtype);
}

/** Why these tensors cannot be audited (the first tensor of another dtype), or undefined when they can. */
export function uncheckableDtype(tensors: Iterable<{ name: string; dtype: string }>): string | undefined {
  for (const { name, dtype } of tensors) {
    if (!isCheckpointDtype(dtype))
      return `tensor "${name}" is ${dtype}; the audit can check checkpoints of ${CHECKPOINT_DTYPES.join(', ')} tensors only (store step counters as F32 or F64)`;
  }
  return undefined;
}
