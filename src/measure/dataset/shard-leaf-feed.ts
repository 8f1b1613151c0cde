/** Leaves a shard may hold back while an earlier shard is still being read (16 MiB: 2^19 records). */
const MAX_HELD_BYTES = 16 * 1024 * 1024;

/**
 * Leaves of shards read at once, handed to `sink` in shard order: shard 0's leaves, then shard
 * 1's, and so on, each shard's in its own order. The shard whose turn it is passes straight
 * through; a later shard's leaves are held (copied) until its turn, and once it holds
 * MAX_HELD_BYTES its next push waits for its turn, so memory stays bounded. Every call to `sink`
 * runs after the previous one has finished.
 */
export class ShardLeafFeed {
  private current = 0;
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown;
  private readonly held: Buffer[][];
  private readonly heldBytes: number[];
  private readonly ended: boolean[];
  private readonly waiting: Array<Array<() => void>>;

  constructor(
    private readonly shards: number,
    private readonly sink: (leaves: Buffer) => Promise<void>,
  ) {
    this.held = Array.from({ length: shards }, () => []);
    this.heldBytes = new Array(shards).fill(0);
    this.ended = new Array(shards).fill(false);
    this.waiting = Array.from({ length: shards }, () => []);
  }

  async push(shard: number, leaves: Buffer): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (shard === this.current) return this.enqueue(leaves);
    if (this.heldBytes[shard]! >= MAX_HELD_BYTES) {
      await new Promise<void>((resolve) => this.waiting[shard]!.push(resolve));
      return this.push(shard, leaves);
    }
    this.held[shard]!.push(Buffer.from(leaves));
    this.heldBytes[shard]! += leaves.length;
  }

  /** Shard `shard` has pushed all its leaves. */
  async end(shard: number): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    this.ended[shard] = true;
    // The turn passes synchronously, its held leaves queued before anything the shard pushes next.
    while (this.current < this.shards && this.ended[this.current]) {
      this.current++;
      if (this.current === this.shards) break;
      for (const leaves of this.held[this.current]!) void this.enqueue(leaves).catch(() => undefined);
      this.held[this.current] = [];
      this.heldBytes[this.current] = 0;
      for (const wake of this.waiting[this.current]!.splice(0)) wake();
    }
    await this.chain;
  }

  /** Stops the feed: pushes fail with `err`, and waiting shards wake to see it. */
  abort(err: unknown): void {
    if (this.failure === undefined) this.failure = err;
    for (const queue of this.waiting) for (const wake of queue.splice(0)) wake();
  }

  /** Resolves when every leaf has reached the sink; rejects with the first failure. */
  async done(): Promise<void> {
    await this.chain;
    if (this.failure !== undefined) throw this.failure;
  }

  private enqueue(leaves: Buffer): Promise<void> {
    this.chain = this.chain.then(() => this.sink(leaves));
    return this.chain;
  }
}
