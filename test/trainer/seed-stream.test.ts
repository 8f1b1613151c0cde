import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import { InputError } from '../../src/errors.js';
import { SeedStream } from '../../src/trainer/seed-stream.js';

const vectors = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../test/trainer/fixtures/seed-vectors.json', import.meta.url)), 'utf8'),
);
const seed = Buffer.from(vectors.seed, 'hex');

/** Feeds uniform() chosen 8-byte words, to reach the rejection branch that real streams hit with probability < 2^-50. */
class ScriptedWords extends SeedStream {
  constructor(private readonly words: bigint[]) {
    super(Buffer.alloc(32), 'test');
  }
  override nextBytes(n: number): Buffer {
    assert.equal(n, 8);
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(this.words.shift()!);
    return b;
  }
}

describe('SeedStream', () => {
  test('the bytes are SHA-256(s ‖ label ‖ u64be(i)) for i = 0, 1, …, read across block boundaries', () => {
    const block = (i: number) => {
      const counter = Buffer.alloc(8);
      counter.writeBigUInt64BE(BigInt(i));
      return createHash('sha256').update(seed).update('aicert/order/0', 'utf8').update(counter).digest();
    };
    const stream = new SeedStream(seed, 'aicert/order/0');
    const pieces = [stream.nextBytes(5), stream.nextBytes(40), stream.nextBytes(0), stream.nextBytes(19)];
    assert.deepEqual(Buffer.concat(pieces), Buffer.concat([block(0), block(1)]));
  });

  test('pinned vectors: the first outputs of SeedStream(s, "aicert/order/0") and of "aicert/init"', () => {
    assert.equal(new SeedStream(seed, vectors.order0.label).nextBytes(64).toString('hex'), vectors.order0.first64Bytes);
    const uniform = new SeedStream(seed, vectors.order0.label);
    assert.deepEqual(
      vectors.order0.uniform10.map(() => uniform.uniform(10)),
      vectors.order0.uniform10,
    );
    assert.deepEqual(new SeedStream(seed, vectors.order0.label).permutation(12), vectors.order0.permutation12);
    const init = new SeedStream(seed, vectors.init.label);
    assert.deepEqual(
      vectors.init.unit4.map(() => init.unit()),
      vectors.init.unit4,
    );
  });

  test('uniform(n) is x mod n of the next big-endian u64, drawing again while x ≥ 2^64 − (2^64 mod n)', () => {
    const first = BigInt(`0x${vectors.order0.first64Bytes.slice(0, 16)}`);
    assert.equal(new SeedStream(seed, vectors.order0.label).uniform(1_000_003), Number(first % 1_000_003n));
    // n = 3: 2^64 mod 3 = 1, so the limit is 2^64 − 1: the word 2^64 − 1 is rejected, 2^64 − 2 is not.
    assert.equal(
      new ScriptedWords([2n ** 64n - 1n, 2n ** 64n - 1n, 2n ** 64n - 2n]).uniform(3),
      Number((2n ** 64n - 2n) % 3n),
    );
    assert.equal(new ScriptedWords([5n]).uniform(1), 0);
    const big = 2 ** 53 - 1; // 2^64 mod (2^53 − 1) = 2^11
    assert.equal(new ScriptedWords([2n ** 64n - 2048n, 7n]).uniform(big), 7);
    assert.equal(new ScriptedWords([2n ** 64n - 2049n]).uniform(big), Number((2n ** 64n - 2049n) % BigInt(big)));
  });

  test('unit() is the next big-endian u32 shifted right by 8, over 2^24: in [0, 1) and exact in float32', () => {
    const bytes = new SeedStream(seed, 'aicert/init').nextBytes(16);
    const stream = new SeedStream(seed, 'aicert/init');
    for (let i = 0; i < 4; i++) {
      const u = stream.unit();
      assert.equal(u, (bytes.readUInt32BE(4 * i) >>> 8) / 2 ** 24);
      assert.ok(u >= 0 && u < 1 && Math.fround(u) === u);
    }
  });

  test('permutation(n) holds every number once, and depends on seed and label', () => {
    assertProperty(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.string(),
        fc.integer({ min: 0, max: 300 }),
        (s, label, n) => {
          const p = new SeedStream(Buffer.from(s), label).permutation(n);
          assert.deepEqual(
            [...p].sort((a, b) => a - b),
            Array.from({ length: n }, (_, i) => i),
          );
        },
      ),
      { numRuns: 100 },
    );
    const p = (label: string, s = seed) => new SeedStream(s, label).permutation(50);
    assert.notDeepEqual(p('aicert/order/0'), p('aicert/order/1'));
    assert.notDeepEqual(p('aicert/order/0'), p('aicert/order/0', Buffer.alloc(32)));
    assert.deepEqual(p('aicert/order/0'), p('aicert/order/0'));
  });

  test('a seed that is not 32 bytes, and bounds that are not counts, are refused', () => {
    assert.throws(
      () => new SeedStream(Buffer.alloc(31), 'x'),
      (e) => e instanceof InputError && e.code === 'trainer.seed',
    );
    const stream = new SeedStream(seed, 'x');
    for (const bad of [0, -1, 1.5, 2 ** 53, Number.NaN])
      assert.throws(() => stream.uniform(bad), RangeError, String(bad));
    assert.throws(() => stream.permutation(-1), RangeError);
    assert.throws(() => stream.nextBytes(-1), RangeError);
  });
});
