import { createHash } from 'node:crypto';

/**
 * A deterministic random stream derived from the run's seed, one independent stream per purpose
 * ("init", "order"): block i is SHA-256(`fashion-mnist/<purpose>/<seed>/<i>`), read as
 * little-endian uint32 words. Hash-based rather than a fast PRNG so that it is specified in one
 * sentence and can be reproduced from any language's standard library (a verifier re-deriving
 * the initialization or the data order from the seed needs nothing else). The seed is a string so
 * that a committed seed such as a hex digest can be used as is.
 */
export class SeededRandom {
  private block: Buffer = Buffer.alloc(0);
  private word = 0;
  private counter = 0;

  constructor(
    private readonly seed: string,
    private readonly purpose: string,
  ) {}

  /** A uniform integer in [0, 2^32). */
  nextUint32(): number {
    if (this.word * 4 >= this.block.length) {
      this.block = createHash('sha256').update(`fashion-mnist/${this.purpose}/${this.seed}/${this.counter++}`).digest();
      this.word = 0;
    }
    return this.block.readUInt32LE(4 * this.word++);
  }

  /** A uniform float in [0, 1) with 24 random bits: exact in float32, so the same in every language. */
  nextUnit(): number {
    return (this.nextUint32() >>> 8) / 2 ** 24;
  }

  /** A uniform integer in [0, n) for 0 < n ≤ 2^32, without modulo bias (rejection sampling). */
  nextBelow(n: number): number {
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** A uniformly random permutation of 0..n-1 (Fisher–Yates, drawing from the end). */
  permutation(n: number): number[] {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.nextBelow(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order;
  }
}
