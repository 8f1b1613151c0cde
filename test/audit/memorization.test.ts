import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  combineMemorization,
  memorizationSamples,
  memorizationTest,
  type MemorizationResult,
} from '../../src/audit/memorization.js';

const seed = (label: string) => createHash('sha256').update(label).digest();
const segment7 = {
  index: 7,
  batches: [
    [1, 2, 3, 4],
    [5, 6, 7, 8],
    [9, 10, 2, 11],
  ],
};
const segment8 = {
  index: 8,
  batches: [
    [12, 13, 1, 2],
    [14, 15, 3, 16],
  ],
};
const heldOut = Array.from({ length: 50 }, (_, i) => 100 + i);

test('a segment samples the distinct records it trained, and held-out records from its own slice of the pool', () => {
  const [s] = memorizationSamples([segment7], heldOut, 256, seed('a'));
  assert.deepEqual(
    [...s!.members].sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
  );
  assert.equal(s!.heldOut.length, 50, 'one audited segment gets the whole pool, up to the size');
  assert.equal(new Set(s!.heldOut).size, 50);
  assert.ok(s!.heldOut.every((r) => heldOut.includes(r)));
});

test('no record is sampled in two segments, so their scores are independent under the null', () => {
  const [a, b] = memorizationSamples([segment7, segment8], heldOut, 256, seed('a'));
  assert.equal(a!.heldOut.length, 25);
  assert.equal(b!.heldOut.length, 25);
  const all = [...a!.members, ...a!.heldOut, ...b!.members, ...b!.heldOut];
  assert.equal(new Set(all).size, all.length);
  assert.deepEqual(
    [...b!.members].sort((x, y) => x - y),
    [12, 13, 14, 15, 16],
    'records 1, 2, 3 went to segment 7 already',
  );
});

test('sample sizes are capped, and the draw follows the audit seed', () => {
  const a = memorizationSamples([segment7, segment8], heldOut, 5, seed('a'));
  assert.deepEqual(
    a.map((s) => [s.members.length, s.heldOut.length]),
    [
      [5, 5],
      [5, 5],
    ],
  );
  assert.deepEqual(memorizationSamples([segment7, segment8], heldOut, 5, seed('a')), a);
  assert.notDeepEqual(memorizationSamples([segment7, segment8], heldOut, 5, seed('b')), a);
});

const sample = {
  members: Array.from({ length: 40 }, (_, i) => i),
  heldOut: Array.from({ length: 40 }, (_, i) => 100 + i),
};
const before = Array.from({ length: 80 }, () => 2);

test('a segment whose trained records lost more loss than held-out ones scores high; no difference scores nothing', () => {
  const learned = before.map((b, j) => (j < 40 ? b - 0.5 - 0.01 * j : b - 0.01 * (j - 40)));
  const trained = memorizationTest(sample, before, learned);
  assert.equal(trained.auc, 1);
  assert.ok(trained.p < 1e-10 && trained.z! > 6);
  assert.ok(trained.medianDrop.members > trained.medianDrop.heldOut);

  const same = before.map((b, j) => b - 0.01 * (j % 40));
  const untrained = memorizationTest(sample, before, same);
  assert.equal(untrained.auc, 0.5);
  assert.ok(untrained.p > 0.4);
});

const result = (z: number | null, auc = 0.5): MemorizationResult => ({
  members: 40,
  heldOut: 40,
  u: 0,
  auc,
  z,
  p: 0,
  medianDrop: { members: 0, heldOut: 0 },
});

test('weak evidence in many segments adds up (Stouffer); none, or evidence against, does not', () => {
  // Ten segments at z = 1 each (p = 0.16 each, none significant alone): Z = √10 ≈ 3.16.
  const weak = combineMemorization(
    Array.from({ length: 10 }, () => result(1, 0.55)),
    0.01,
  );
  assert.ok(Math.abs(weak.z - Math.sqrt(10)) < 1e-12);
  assert.ok(weak.passed && weak.p < 0.001);
  assert.ok(Math.abs(weak.meanAuc - 0.55) < 1e-12);

  const none = combineMemorization(
    Array.from({ length: 10 }, (_, i) => result(i % 2 ? 0.8 : -0.8)),
    0.01,
  );
  assert.equal(none.passed, false);
  assert.ok(Math.abs(none.p - 0.5) < 1e-12);

  const tied = combineMemorization([result(null), result(null)], 0.01);
  assert.equal(tied.z, 0, 'a segment with every drop tied is no evidence either way');
  assert.equal(tied.passed, false);

  const oneStrongAmongNulls = combineMemorization([result(5), ...Array.from({ length: 24 }, () => result(0))], 0.01);
  assert.equal(
    oneStrongAmongNulls.passed,
    false,
    'one trained segment among 25 that show nothing is not enough (Z = 1)',
  );
});
