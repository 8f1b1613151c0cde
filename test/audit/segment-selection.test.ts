import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import { selectSegments } from '../../src/audit/segment-selection.js';

const seed = (label: string) => createHash('sha256').update(label).digest();

test('the top-Q come first, largest update first, ties to the earlier segment; then m others', () => {
  const norms = [1, 5, 3, 5, 2, 0.5, 4];
  const s = selectSegments(norms, 3, 2, seed('a'));
  assert.deepEqual(s.slice(0, 3), [
    { index: 1, chosenBy: 'top-q' },
    { index: 3, chosenBy: 'top-q' },
    { index: 6, chosenBy: 'top-q' },
  ]);
  assert.equal(s.length, 5);
  assert.ok(s.slice(3).every((x) => x.chosenBy === 'random' && ![1, 3, 6].includes(x.index)));
});

test('more draws than segments: every segment once', () => {
  const s = selectSegments([3, 1, 2], 2, 45, seed('b'));
  assert.deepEqual(s.map((x) => x.index).sort(), [0, 1, 2]);
});

test('the random part is a function of the audit seed: the same seed repeats it, another seed changes it', () => {
  const norms = Array.from({ length: 500 }, (_, i) => Math.sin(i) + 2);
  const a = selectSegments(norms, 2, 45, seed('x')).map((s) => s.index);
  assert.deepEqual(
    selectSegments(norms, 2, 45, seed('x')).map((s) => s.index),
    a,
  );
  assert.notDeepEqual(
    selectSegments(norms, 2, 45, seed('y')).map((s) => s.index),
    a,
  );
});

test('every non-top segment is drawn about equally often (uniform selection)', () => {
  const norms = Array.from({ length: 22 }, (_, i) => (i < 2 ? 100 : 1));
  const hits = new Array<number>(22).fill(0);
  const trials = 2000;
  for (let t = 0; t < trials; t++)
    for (const s of selectSegments(norms, 2, 5, seed(`u${t}`))) if (s.chosenBy === 'random') hits[s.index]!++;
  const expected = (trials * 5) / 20;
  for (let i = 2; i < 22; i++)
    assert.ok(
      Math.abs(hits[i]! - expected) < 5 * Math.sqrt(expected),
      `segment ${i} drawn ${hits[i]} times, expected about ${expected}`,
    );
  assert.equal(hits[0], 0);
  assert.equal(hits[1], 0);
});

test('property: no segment is selected twice, and min(N, Q + m) are selected', () => {
  assertProperty(
    fc.property(
      fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { minLength: 0, maxLength: 80 }),
      fc.nat(5),
      fc.nat(50),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      (norms, q, m, s) => {
        const picked = selectSegments(norms, q, m, Buffer.from(s)).map((x) => x.index);
        assert.equal(new Set(picked).size, picked.length);
        assert.equal(picked.length, Math.min(norms.length, Math.min(q, norms.length) + m));
      },
    ),
  );
});
