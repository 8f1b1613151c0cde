import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import {
  DEFAULT_RANDOM_SEGMENTS,
  detectionProbability,
  detectionProbabilityWithoutReplacement,
  REFERENCE_FAKE_FRACTION,
} from '../../src/audit/detection-probability.js';

test('m = 45 random segments catch a 10 % fake fraction with ≥ 99 %, and 44 is the least m that does', () => {
  assert.equal(DEFAULT_RANDOM_SEGMENTS, 45);
  assert.ok(Math.abs(detectionProbability(REFERENCE_FAKE_FRACTION, 45) - 0.99128) < 1e-5);
  assert.ok(detectionProbability(0.1, 44) >= 0.99);
  assert.ok(detectionProbability(0.1, 43) < 0.99);
  assert.ok(Math.abs(detectionProbability(0.1, 30) - 0.9576) < 1e-4, 'research note: m = 30 gives 95.8 %');
});

test('without replacement: exact hypergeometric values, certainty when the honest segments run out', () => {
  // 1 fake in 10, 3 draws: miss = 9/10 · 8/9 · 7/8 = 0.7
  assert.ok(Math.abs(detectionProbabilityWithoutReplacement(10, 1, 3) - 0.3) < 1e-12);
  assert.equal(detectionProbabilityWithoutReplacement(10, 5, 6), 1);
  assert.equal(detectionProbabilityWithoutReplacement(10, 0, 6), 0);
});

test('property: drawing without replacement never detects less than the (1 − f)^m bound', () => {
  assertProperty(
    fc.property(
      fc.integer({ min: 1, max: 2000 }),
      fc.integer({ min: 0, max: 100 }),
      fc.integer({ min: 0, max: 60 }),
      (population, percent, draws) => {
        const fake = Math.floor((population * percent) / 100);
        const m = Math.min(draws, population);
        assert.ok(
          detectionProbabilityWithoutReplacement(population, fake, m) >=
            detectionProbability(fake / population, m) - 1e-12,
        );
      },
    ),
  );
});
