/** Leaves handed on at a time: 4096 × 32 bytes, 128 KiB. */
export const BATCH_LEAVES = 4096;

/**
 * Gathers leaves made one record at a time into batches for the record trees (and whoever sees the
 * leaves), in record order: a tree push per record would cost a message to the workers per record.
 */
export class LeafBatcher {
  private batch: Buffer[] = [];

  constructor(private readonly sink: (leaves: Buffer) => Promise<void>) {}

  async add(leaf: Buffer): Promise<void> {
    this.batch.push(leaf);
    if (this.batch.length >= BATCH_LEAVES) await this.flush();
  }

  /** Hands on what is gathered; call once more after the last leaf. */
  async flush(): Promise<void> {
    if (this.batch.length === 0) return;
    const leaves = Buffer.concat(this.batch);
    this.batch = [];
    await this.sink(leaves);
  }
}
