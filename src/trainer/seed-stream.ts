import { createHash } from 'node:crypto';
import { InputError } from '../errors.js';

/** s is a SHA-256 digest (docs/trainer-protocol.md, "The seed"). */
export const SEED_BYTES = 32;

const TWO_POW_64 = 1n << 64n;

/**
 * The protocol's one deterministic generator (docs/trainer-protocol.md, "Deterministic streams
 * from the seed"): the bytes SHA-256(s ‖ label ‖ u64be(0)), SHA-256(s ‖ label ‖ u64be(1)), …
 * Hash-based rather than a fast PRNG so that the Python SDK (python/aicert_trainer.py) and any
 * other language reproduce it bit for bit from a one-sentence definition. One stream per purpose
 * (label), so drawing more numbers for one purpose never shifts another.
 */
export class SeedStream {
  private readonly prefix: Buffer;
  private block: Buffer = Buffer.alloc(0);
  private used = 0;
  private counter = 0n;

  constructor(seed: Buffer, label: string) {
    if (seed.length !== SEED_BYTES)
      throw new InputError('trainer.seed', `the seed must be ${SEED_BYTES} bytes, got ${seed.length}`);
    this.prefix = Buffer.concat([seed, Buffer.from(label, 'utf8')]);
  }

  /** The next n bytes of the stream. */
  nextBytes(n: number): Buffer {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`nextBytes: ${n} is not a byte count`);
    const out = Buffer.alloc(n);
    for (let filled = 0; filled < n; ) {
      if (this.used === this.block.length) this.refill();
      const take = Math.min(n - filled, this.block.length - this.used);
      this.block.copy(out, filled, this.used, this.used + take);
      this.used += take;
      filled += take;
    }
    return out;
  }

  /**
   * A uniform integer in [0, n): the next 8 bytes as a big-endian u64 x, drawn again while
   * x ≥ 2^64 − (2^64 mod n) (so that x mod n has no bias), then x mod n.
   */
  uniform(n: number): number {
    if (!Number.isSafeInteger(n) || n < 1)
      throw new RangeError(`uniform: the bound ${n} is not a positive safe integer`);
    const bound = BigInt(n);
    const limit = TWO_POW_64 - (TWO_POW_64 % bound);
    for (;;) {
      const x = this.nextBytes(8).readBigUInt64BE(0);
      if (x < limit) return Number(x % bound);
    }
  }

  /**
   * A uniform float in [0, 1) with 24 random bits, (next 4 bytes as big-endian u32) >>> 8, / 2^24:
   * exactly representable in float32, so trainers in any language and framework get the same
   * value from it (for initializations).
   */
  unit(): number {
    return (this.nextBytes(4).readUInt32BE(0) >>> 8) / 2 ** 24;
  }

  /** A uniformly random permutation of 0..n−1: Fisher–Yates from the end, a[i] ↔ a[uniform(i+1)]. */
  permutation(n: number): number[] {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`permutation: ${n} is not a count`);
    const a = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.uniform(i + 1);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }

  private refill(): void {
    const counter = Buffer.alloc(8);
    counter.writeBigUInt64BE(this.counter++);
    this.block = createHash('sha256').update(this.prefix).update(counter).digest();
    this.used = 0;
  }
}
