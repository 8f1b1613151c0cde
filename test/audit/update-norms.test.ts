import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rankingScores } from '../../src/audit/update-norms.js';
import { selectSegments } from '../../src/audit/segment-selection.js';

const SEED = Buffer.alloc(32, 7);
const top = (scores: number[], q: number) => selectSegments(scores, q, 0, SEED).map((s) => s.index);

test("without optimizer state the ranking is Proof-of-Learning's: by ‖ΔW‖ alone", () => {
  const weights = [3, 1, 4, 1.5, 9, 2.6, 5];
  const scores = rankingScores(weights.map((w) => ({ weights: w, optimizer: 0 })));
  assert.deepEqual(top(scores, 3), [4, 6, 2]);
  assert.deepEqual(top(scores, 7), top(weights, 7));
});

test('a jump of the optimizer state that no segment shows ranks first, on its own scale', () => {
  // Weight updates ~1 (segment 5 the largest, as the segment an injected momentum steers would be),
  // optimizer changes ~0.01, except segment 4's, which is 0.3 in absolute terms: smaller than every
  // weight update, but 30 times a typical optimizer change.
  const norms = Array.from({ length: 20 }, (_, i) => ({ weights: 1 + (i % 3) / 10, optimizer: 0.01 + (i % 2) / 1000 }));
  norms[4] = { weights: 1, optimizer: 0.3 };
  norms[5] = { weights: 3, optimizer: 0.3 };
  const scores = rankingScores(norms);
  assert.deepEqual(top(scores, 2), [4, 5]);
  // One norm over both parts would have ranked by the weights: segment 4 would not be in the top 2.
  assert.ok(
    !top(
      norms.map((n) => Math.hypot(n.weights, n.optimizer)),
      2,
    ).includes(4),
  );
});

test('a part that typically does not change ranks any change of it above everything', () => {
  const norms = Array.from({ length: 9 }, () => ({ weights: 2, optimizer: 0 }));
  norms[0] = { weights: 50, optimizer: 0 };
  norms[6] = { weights: 2, optimizer: 1e-6 };
  assert.deepEqual(top(rankingScores(norms), 2), [6, 0]);
  assert.deepEqual(rankingScores([]), []);
});
