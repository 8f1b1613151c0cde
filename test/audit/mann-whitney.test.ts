import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import { mannWhitneyGreater } from '../../src/audit/mann-whitney.js';
import { normalUpperTail } from '../../src/audit/normal-distribution.js';

/**
 * Reference p-values were computed once with scipy 1.17.1:
 *   scipy.stats.mannwhitneyu(x, y, alternative='greater', method='asymptotic')  (continuity on)
 *   scipy.stats.norm.sf(z)
 * U and the AUC of the small cases are also worked out by hand in the comments.
 */
function close(actual: number, expected: number, relative: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= relative * Math.abs(expected),
    `${what}: ${actual} is not within ${relative} of ${expected}`,
  );
}

test('the normal upper tail matches scipy norm.sf from the centre to the far tail', () => {
  const reference: Array<[number, number]> = [
    [0, 0.5],
    [1.96, 0.024997895148220435],
    [-3, 0.9986501019683699],
    [5, 2.866515718791933e-7],
    [8, 6.22096057427174e-16],
    [12, 1.776482112077653e-33],
    [30, 4.906713927147908e-198],
  ];
  for (const [z, q] of reference) close(normalUpperTail(z), q, 1e-12, `Q(${z})`);
});

test('the tail is continuous where the series hands over to the continued fraction, and monotone', () => {
  const handover = 2.5 * Math.SQRT2;
  close(normalUpperTail(handover - 1e-9), normalUpperTail(handover + 1e-9), 1e-8, 'Q at the handover');
  let previous = 1;
  for (let z = -8; z <= 20; z += 0.01) {
    const q = normalUpperTail(z);
    assert.ok(q <= previous && q >= 0, `Q is not monotone at ${z}`);
    previous = q;
  }
});

test('fully separated samples: U = n1·n2, AUC 1 (U = 9 of 9 pairs)', () => {
  const r = mannWhitneyGreater([4, 5, 6], [1, 2, 3]);
  assert.equal(r.u, 9);
  assert.equal(r.auc, 1);
  close(r.p, 0.04042779918502612, 1e-9, 'p');
  const reversed = mannWhitneyGreater([1, 2, 3], [4, 5, 6]);
  assert.equal(reversed.u, 0);
  assert.equal(reversed.auc, 0);
  assert.ok(reversed.p > 0.95);
});

test('ties get mid-ranks and shrink the variance', () => {
  // pooled sorted: 1x 2x 2x 2y 3x 3y 3y 4y 5x → ranks 1, 3, 3, 3, 6, 6, 6, 8, 9
  // R_x = 1+3+3+6+9 = 22, U = 22 − 5·6/2 = 7, AUC = 7/20
  const r = mannWhitneyGreater([1, 2, 2, 3, 5], [2, 3, 3, 4]);
  assert.equal(r.u, 7);
  assert.equal(r.auc, 0.35);
  close(r.p, 0.81257142865833, 1e-9, 'p');
});

test('interleaved samples without ties', () => {
  const r = mannWhitneyGreater([0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5], [1, 2, 3, 4, 5, 6]);
  assert.equal(r.u, 27);
  close(r.p, 0.373442816695182, 1e-9, 'p');
});

test('hundreds of heavily tied values agree with scipy', () => {
  const x = Array.from({ length: 200 }, (_, i) => Math.floor((Math.sin(i * 1.7) * 2 + 0.3) * 10) / 10);
  const y = Array.from({ length: 150 }, (_, j) => Math.floor(Math.cos(j * 2.3) * 2 * 10) / 10);
  const r = mannWhitneyGreater(x, y);
  assert.equal(r.u, 17321.5);
  close(r.auc, 17321.5 / 30000, 1e-15, 'AUC');
  close(r.p, 0.006584550046967093, 1e-9, 'p');
});

test('all values tied: no evidence, p = 1', () => {
  const r = mannWhitneyGreater([2, 2, 2], [2, 2]);
  assert.equal(r.auc, 0.5);
  assert.equal(r.p, 1);
});

test('empty or non-finite samples are refused', () => {
  assert.throws(() => mannWhitneyGreater([], [1]), RangeError);
  assert.throws(() => mannWhitneyGreater([1], [Number.NaN]), RangeError);
  assert.throws(() => mannWhitneyGreater([Number.POSITIVE_INFINITY], [1]), RangeError);
});

const sample = fc.array(
  fc.integer({ min: -20, max: 20 }).map((v) => v / 4),
  { minLength: 1, maxLength: 40 },
);

test('property: U counts the pairs x > y (ties ½), U(x,y) + U(y,x) = n1·n2, and 0 ≤ p ≤ 1', () => {
  assertProperty(
    fc.property(sample, sample, (x, y) => {
      let pairs = 0;
      for (const a of x) for (const b of y) pairs += a > b ? 1 : a === b ? 0.5 : 0;
      const forward = mannWhitneyGreater(x, y);
      const backward = mannWhitneyGreater(y, x);
      assert.equal(forward.u, pairs);
      assert.equal(forward.u + backward.u, x.length * y.length);
      assert.ok(forward.p >= 0 && forward.p <= 1);
    }),
  );
});

// Except a shift that ties every value (x = [−1], y = [1.25], shift 2.25): no evidence at all is p = 1 by
// definition, while the normal approximation gives a strictly smaller x a p just under 1.
test('property: shifting the first sample up never raises p, unless it ties every value', () => {
  assertProperty(
    fc.property(sample, sample, fc.integer({ min: 1, max: 40 }), (x, y, shift) => {
      const shifted = x.map((v) => v + shift / 4);
      fc.pre(!shifted.concat(y).every((v) => v === y[0]));
      const before = mannWhitneyGreater(x, y).p;
      const after = mannWhitneyGreater(shifted, y).p;
      assert.ok(after <= before + 1e-12, `p rose from ${before} to ${after}`);
    }),
  );
});
