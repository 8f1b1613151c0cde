import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import { stateDistance } from '../../src/audit/state-distance.js';
import { roundingPerturbation } from '../../src/audit/calibration.js';
import { VerificationError } from '../../src/errors.js';
import {
  encodeHalf,
  SeedStream,
  tensorValues,
  type CheckpointDtype,
  type CheckpointTensor,
  type TrainingState,
} from '../../src/trainer/index.js';

/**
 * Distances over checkpoints of any dtype: each value is decoded exactly, so the same values
 * stored as F64, F32, F16 or BF16 are the same distance; tensors of different dtypes are not the
 * same state. The calibration's one-ulp perturbation flips the last fraction bit in the tensor's
 * own dtype.
 */
function stored(dtype: CheckpointDtype, values: readonly number[]): CheckpointTensor {
  const shape = [values.length];
  switch (dtype) {
    case 'F64':
      return { dtype, shape, data: Float64Array.from(values) };
    case 'F32':
      return { dtype, shape, data: Float32Array.from(values) };
    default:
      return { dtype, shape, data: Uint16Array.from(values, (x) => encodeHalf(dtype, x)) };
  }
}

const state = (dtype: CheckpointDtype, w: readonly number[], m: readonly number[]): TrainingState =>
  new Map([
    ['w', stored(dtype, w)],
    ['optimizer/w', stored(dtype, m)],
  ]);

test('the same values stored in F64, F32, F16 and BF16 have the same distance, computed in float64', () => {
  // Values every dtype represents exactly (8 significant bits or fewer, small exponents).
  const small = fc.integer({ min: -128, max: 128 }).map((n) => n / 64);
  assertProperty(
    fc.property(fc.array(fc.tuple(small, small, small, small), { minLength: 1, maxLength: 40 }), (rows) => {
      const [wa, wb, ma, mb] = [0, 1, 2, 3].map((j) => rows.map((r) => r[j]!)) as [
        number[],
        number[],
        number[],
        number[],
      ];
      const expected = {
        weights: Math.hypot(...wa.map((x, i) => x - wb[i]!)),
        optimizer: Math.hypot(...ma.map((x, i) => x - mb[i]!)),
      };
      for (const dtype of ['F64', 'F32', 'F16', 'BF16'] as const) {
        const d = stateDistance(state(dtype, wa, ma), state(dtype, wb, mb), dtype);
        assert.ok(Math.abs(d.weights - expected.weights) <= 1e-12 * (1 + expected.weights), dtype);
        assert.ok(Math.abs(d.optimizer - expected.optimizer) <= 1e-12 * (1 + expected.optimizer), dtype);
      }
    }),
    { numRuns: 200 },
  );
});

test('BF16 values are decoded exactly: a one-ulp difference is 2^-7 of 1, not rounded away', () => {
  const d = stateDistance(state('BF16', [1], [0]), state('BF16', [1 + 2 ** -7], [0]), 'bf16');
  assert.equal(d.weights, 2 ** -7);
  const h = stateDistance(state('F16', [2 ** -24], [0]), state('F16', [0], [0]), 'f16 subnormal');
  assert.equal(h.weights, 2 ** -24);
});

test('a tensor stored in another dtype is not the same training state', () => {
  assert.throws(
    () => stateDistance(state('F32', [1], [0]), state('BF16', [1], [0]), 'the replayed and the claimed checkpoint'),
    (e: unknown) =>
      e instanceof VerificationError && e.code === 'audit.checkpoint-shape' && /is F32 against BF16/.test(e.message),
  );
});

test("the calibration's perturbation moves each value by at most one ulp of its own dtype, and keeps the dtype", () => {
  const values = [1, -1.5, 0.1, 3, 2 ** -20, 1e4];
  const ulp: Record<CheckpointDtype, (x: number) => number> = {
    F64: (x) => Math.abs(x) * 2 ** -52 * 2,
    F32: (x) => Math.abs(x) * 2 ** -23 * 2,
    F16: (x) => Math.max(Math.abs(x) * 2 ** -10 * 2, 2 ** -24),
    BF16: (x) => Math.abs(x) * 2 ** -7 * 2,
  };
  for (const dtype of ['F64', 'F32', 'F16', 'BF16'] as const) {
    const start = state(dtype, values, values);
    const moved = roundingPerturbation(start, new SeedStream(Buffer.alloc(32, 3), 'aicert/audit/calibration/0'));
    let changed = 0;
    for (const [name, tensor] of moved) {
      assert.equal(tensor.dtype, dtype);
      const before = tensorValues(start.get(name)!);
      const after = tensorValues(tensor);
      for (let j = 0; j < after.length; j++) {
        if (after[j] !== before[j]) changed++;
        assert.ok(Math.abs(after[j]! - before[j]!) <= ulp[dtype](before[j]!), `${dtype} ${before[j]} → ${after[j]}`);
      }
    }
    assert.ok(changed > 0 && changed < 2 * values.length, `${dtype}: about half the values moved (${changed})`);
  }
});
