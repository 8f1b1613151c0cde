import { EMPTY_ROOT, HASH_BYTES, merkleRoot } from './merkle.js';

/** Leaves per block: a power of two (see below); 16,384 leaves = 512 KiB per task. */
export const DEFAULT_BLOCK_LEAVES = 2 ** 14;

/**
 * The RFC 6962 hash of a sequence of leaves pushed in order, in memory bounded by a few blocks,
 * whatever the leaf count.
 *
 * Why blocks give the same root: cut the leaves into blocks of B = 2^k (the last one may be
 * partial). MTH splits n leaves at the largest power of two below n; when n > B that split is a
 * multiple of B, so both halves start on a block boundary, and recursively the tree over the
 * leaves is the RFC 6962 tree over the block roots (the partial block's MTH as the last item).
 * The tests check this against merkleRoot over all leaves. Block roots are computed off the
 * main thread by `blockRoot`; at most `maxPending` blocks wait for theirs at a time.
 */
export class StreamingMerkleRoot {
  private block: Buffer;
  private filled = 0;
  private readonly roots: Array<Promise<Buffer>> = [];
  private readonly waiting: Array<Promise<unknown>> = [];
  private leaves = 0;

  constructor(
    private readonly blockRoot: (block: Buffer) => Promise<Buffer>,
    private readonly blockLeaves = DEFAULT_BLOCK_LEAVES,
    private readonly maxPending = 4,
    /** Memory for a new block: a spare one of the same size, given back by `blockRoot`'s caller. */
    private readonly allocate: (bytes: number) => ArrayBuffer = (bytes) => new ArrayBuffer(bytes),
  ) {
    if (!Number.isSafeInteger(blockLeaves) || blockLeaves < 2 || (blockLeaves & (blockLeaves - 1)) !== 0) {
      throw new RangeError(`block size must be a power of two ≥ 2, got ${blockLeaves}`);
    }
    this.block = this.newBlock();
  }

  /** Leaves pushed so far. */
  get count(): number {
    return this.leaves;
  }

  /** Appends leaves (32 bytes each); waits while too many blocks are still being hashed. */
  async push(leaves: Uint8Array): Promise<void> {
    const size = this.blockLeaves * HASH_BYTES;
    this.leaves += leaves.length / HASH_BYTES;
    for (let offset = 0; offset < leaves.length; ) {
      const take = Math.min(size - this.filled, leaves.length - offset);
      this.block.set(leaves.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === size) {
        await this.flush();
      }
    }
  }

  /**
   * The roots of the full blocks so far, in order (a dataset index keeps them, dataset-index.ts);
   * the last, partial block is not among them.
   */
  fullBlockRoots(): Promise<Buffer[]> {
    return Promise.all(this.roots);
  }

  /** MTH of all leaves pushed. */
  async finish(): Promise<Buffer> {
    if (this.leaves === 0) return Buffer.from(EMPTY_ROOT);
    const items = await Promise.all(this.roots);
    if (this.filled > 0) items.push(merkleRoot(this.block.subarray(0, this.filled)));
    return merkleRoot(Buffer.concat(items));
  }

  private async flush(): Promise<void> {
    const root = this.blockRoot(this.block);
    root.catch(() => undefined); // awaited in finish(); not an unhandled rejection meanwhile
    this.roots.push(root);
    this.waiting.push(root);
    this.block = this.newBlock();
    this.filled = 0;
    while (this.waiting.length > this.maxPending) await this.waiting.shift();
  }

  /** A block in its own ArrayBuffer (never Buffer's shared pool), so that it can be transferred. */
  private newBlock(): Buffer {
    return Buffer.from(this.allocate(this.blockLeaves * HASH_BYTES));
  }
}
