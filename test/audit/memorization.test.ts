import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { memorizationSample, memorizationTest } from '../../src/audit/memorization.js';

const seed = (label: string) => createHash('sha256').update(label).digest();
const batches = [
  [1, 2, 3, 4],
  [5, 6, 7, 8],
  [9, 10, 2, 11],
];
const heldOut = Array.from({ length: 50 }, (_, i) => 100 + i);

test('the sample takes distinct records trained in the segment and as many held-out records', () => {
  const s = memorizationSample(7, batches, heldOut, 256, seed('a'));
  assert.deepEqual([...s.members].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.equal(s.heldOut.length, 11);
  assert.equal(new Set(s.heldOut).size, 11);
  assert.ok(s.heldOut.every((r) => heldOut.includes(r)));
});

test('the sample size is capped and drawn with the audit seed', () => {
  const a = memorizationSample(7, batches, heldOut, 5, seed('a'));
  assert.equal(a.members.length, 5);
  assert.equal(a.heldOut.length, 5);
  assert.deepEqual(memorizationSample(7, batches, heldOut, 5, seed('a')), a);
  assert.notDeepEqual(memorizationSample(7, batches, heldOut, 5, seed('b')), a);
  assert.notDeepEqual(memorizationSample(8, batches, heldOut, 5, seed('a')), a, 'each segment draws its own sample');
});

test('trained records whose loss dropped more than the held-out records pass; no difference fails', () => {
  const sample = { members: Array.from({ length: 40 }, (_, i) => i), heldOut: Array.from({ length: 40 }, (_, i) => 100 + i) };
  const before = Array.from({ length: 80 }, () => 2);
  const learned = before.map((b, j) => (j < 40 ? b - 0.5 - 0.01 * j : b - 0.01 * (j - 40)));
  const pass = memorizationTest(sample, before, learned, 0.01 / 47);
  assert.equal(pass.passed, true);
  assert.equal(pass.auc, 1);
  assert.ok(pass.medianDrop.members > pass.medianDrop.heldOut);

  const same = before.map((b, j) => b - 0.01 * (j % 40));
  const fail = memorizationTest(sample, before, same, 0.01 / 47);
  assert.equal(fail.passed, false);
  assert.equal(fail.auc, 0.5);
});
