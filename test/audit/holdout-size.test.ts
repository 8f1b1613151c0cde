import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseHoldout, RECOMMENDED_HELD_OUT } from '../../src/audit/holdout-size.js';
import { holdoutCount, holdoutMillionths } from '../../src/trainer/data-order.js';

test('auto holds out the recommended number of records when the data allow it, within 10-30 %', () => {
  const mid = chooseHoldout(3000, 'auto');
  assert.equal(mid.heldOut, RECOMMENDED_HELD_OUT);
  assert.equal(mid.warning, undefined);
  holdoutMillionths(mid.fraction); // a fraction the protocol accepts (six decimals at most)
  assert.equal(holdoutCount(3000, mid.fraction), mid.heldOut);
  assert.deepEqual(chooseHoldout(100_000, 'auto'), { fraction: 0.1, heldOut: 10_000 });
  const small = chooseHoldout(600, 'auto');
  assert.equal(small.fraction, 0.3);
  assert.equal(small.heldOut, 180);
  assert.match(small.warning!, /^WARNING: this run holds out 180 records \(the dataset has only 600 records/);
});

test('an explicit fraction is kept, and warned about when it holds out fewer records than recommended', () => {
  assert.deepEqual(chooseHoldout(10_000, 0.05), { fraction: 0.05, heldOut: 500 });
  const few = chooseHoldout(3000, 0.1);
  assert.equal(few.fraction, 0.1);
  assert.match(few.warning!, /holds out 300 records \(--holdout 0\.1 of 3000 records\); .* at least 400/);
  assert.equal(chooseHoldout(3000, 0).warning, undefined, '--holdout 0 has its own warning at run time');
});
