import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auditSize } from '../../src/audit/audit-size.js';
import {
  DEFAULT_RANDOM_SEGMENTS,
  DEFAULT_TOP_Q,
  detectionProbability,
  detectionProbabilityWithoutReplacement,
  REFERENCE_FAKE_FRACTION,
} from '../../src/audit/detection-probability.js';

const guarantee = detectionProbability(REFERENCE_FAKE_FRACTION, DEFAULT_RANDOM_SEGMENTS);

test('the default draw on a short run replays far fewer than all segments and keeps the default guarantee', () => {
  // The README example: 3,000 records, batch 32, 5 epochs, k = 10: 465 steps, 47 segments.
  const size = auditSize(47, DEFAULT_TOP_Q, undefined);
  assert.equal(size.topQ, 2);
  assert.ok(size.random < 45, `${size.random} drawn`);
  const population = 45;
  const fakes = Math.ceil(REFERENCE_FAKE_FRACTION * population);
  assert.ok(detectionProbabilityWithoutReplacement(population, fakes, size.random) >= guarantee);
  assert.ok(
    detectionProbabilityWithoutReplacement(population, fakes, size.random - 1) < guarantee,
    'and it is the fewest draws that do',
  );
  assert.match(size.note!, /instead of 45/);
});

test('on a long run the default draw stays near 45, and never exceeds it', () => {
  for (const segments of [500, 5000]) {
    const size = auditSize(segments, DEFAULT_TOP_Q, undefined);
    assert.ok(size.random <= 45 && size.random >= 40, `${segments} segments: ${size.random}`);
  }
});

test('an explicit --random is honoured, capped only by the segments there are; so is Q', () => {
  assert.deepEqual(auditSize(500, 2, 45), { segments: 500, topQ: 2, random: 45 });
  const short = auditSize(10, 2, 45);
  assert.equal(short.random, 8);
  assert.match(short.note!, /capped at the run's 8 segments/);
  const one = auditSize(1, 2, undefined);
  assert.deepEqual([one.topQ, one.random], [1, 0], 'a one-segment run replays its one segment, as top-Q');
});
