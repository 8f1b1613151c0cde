import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import { InputError } from '../../src/errors.js';
import { batchSchedule, epochOrder, holdoutCount, splitHoldout } from '../../src/trainer/data-order.js';
import { SeedStream } from '../../src/trainer/seed-stream.js';

const vectors = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../test/trainer/fixtures/seed-vectors.json', import.meta.url)), 'utf8'),
);
const seed = Buffer.from(vectors.seed, 'hex');
const sorted = (a: readonly number[]) => [...a].sort((x, y) => x - y);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('held-out records', () => {
  test('h = ⌈n · fraction⌉ exactly, even where the float product overshoots a whole number', () => {
    assert.equal(100 * 0.07, 7.000000000000001); // why the count is computed in millionths
    assert.equal(holdoutCount(100, 0.07), 7);
    assert.equal(holdoutCount(3000, 0.1), 300);
    assert.equal(holdoutCount(101, 0.1), 11);
    assert.equal(holdoutCount(10, 0), 0);
    assert.equal(holdoutCount(7, 0.000001), 1);
    assert.equal(holdoutCount(1_000_000, 0.999999), 999_999);
    for (const bad of [-0.1, 1, 1.5, 0.1234567, Number.NaN]) {
      assert.throws(
        () => holdoutCount(10, bad),
        (e) => e instanceof InputError && e.code === 'trainer.holdout-fraction',
        String(bad),
      );
    }
  });

  test('pinned split: the last h of the "aicert/holdout" permutation are held out, the rest sorted is the pool', () => {
    const { records, fraction } = vectors.split;
    const split = splitHoldout(seed, records, fraction);
    assert.deepEqual(split, { trainPool: vectors.split.trainPool, heldOut: vectors.split.heldOut });
    const permutation = new SeedStream(seed, 'aicert/holdout').permutation(records);
    assert.deepEqual(split.heldOut, permutation.slice(records - 5));
  });

  test('pool and held-out partition the records, with the held-out count the fraction asks for', () => {
    assertProperty(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 1, max: 400 }),
        fc.integer({ min: 0, max: 900_000 }),
        (s, n, millionths) => {
          const fraction = millionths / 1_000_000;
          const h = Math.ceil((n * millionths) / 1_000_000); // exact: n · millionths is an integer below 2^53
          if (h >= n) {
            assert.throws(() => splitHoldout(Buffer.from(s), n, fraction), InputError);
            return;
          }
          const { trainPool, heldOut } = splitHoldout(Buffer.from(s), n, fraction);
          assert.equal(heldOut.length, h);
          assert.deepEqual(trainPool, sorted(trainPool));
          assert.deepEqual(sorted([...trainPool, ...heldOut]), range(n));
        },
      ),
      { numRuns: 200 },
    );
    assert.throws(
      () => splitHoldout(seed, 0, 0.1),
      (e) => e instanceof InputError && e.code === 'trainer.records',
    );
  });
});

describe('data order', () => {
  test('pinned schedule: consecutive batches of each epoch order, the partial last batch dropped', () => {
    const { trainPool, batchSize, epochs, schedule } = vectors.split;
    assert.deepEqual(batchSchedule(seed, trainPool, batchSize, epochs), schedule);
    // 15 records in batches of 4: 3 steps per epoch, the 3 records left over in each epoch unused.
    const epoch0 = epochOrder(seed, trainPool, 0);
    assert.deepEqual(schedule.slice(0, 3).flat(), epoch0.slice(0, 12));
    assert.deepEqual(schedule.slice(3).flat(), epochOrder(seed, trainPool, 1).slice(0, 12));
  });

  test('epoch e permutes the pool with stream(s, "aicert/order/" + e): order[j] = pool[π[j]]', () => {
    const pool = [5, 9, 12, 40, 41, 77, 100];
    const pi = new SeedStream(seed, 'aicert/order/3').permutation(pool.length);
    assert.deepEqual(
      epochOrder(seed, pool, 3),
      pi.map((j) => pool[j]),
    );
  });

  test('every epoch trains each pool record at most once and never a held-out one', () => {
    assertProperty(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 2, max: 200 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 16 }),
        (s, n, epochs, b) => {
          const { trainPool, heldOut } = splitHoldout(Buffer.from(s), n, 0.25);
          if (b > trainPool.length) return;
          const schedule = batchSchedule(Buffer.from(s), trainPool, b, epochs);
          const perEpoch = Math.floor(trainPool.length / b);
          assert.equal(schedule.length, perEpoch * epochs);
          const held = new Set(heldOut);
          for (let e = 0; e < epochs; e++) {
            const trained = schedule.slice(e * perEpoch, (e + 1) * perEpoch).flat();
            assert.equal(new Set(trained).size, trained.length);
            assert.ok(trained.every((i) => !held.has(i)));
            assert.ok(schedule.every((batch) => batch.length === b));
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  test('a batch size larger than the pool, or no epochs, is refused', () => {
    assert.throws(
      () => batchSchedule(seed, [1, 2, 3], 4, 1),
      (e) => e instanceof InputError && e.code === 'trainer.batch-size',
    );
    assert.throws(
      () => batchSchedule(seed, [1, 2, 3], 0, 1),
      (e) => e instanceof InputError && e.code === 'trainer.batch-size',
    );
    assert.throws(
      () => batchSchedule(seed, [1, 2, 3], 2, 0),
      (e) => e instanceof InputError && e.code === 'trainer.epochs',
    );
  });
});
