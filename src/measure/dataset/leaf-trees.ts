import { DistinctLeafSorter } from './leaf-sorter.js';
import { HASH_BYTES } from './merkle.js';
import type { RecordRootsTuning } from './parallel-record-roots.js';
import type { RecordPool } from './record-pool.js';
import { DEFAULT_BLOCK_LEAVES, StreamingMerkleRoot } from './streaming-merkle.js';

/** The two trees' RFC 6962 hashes and sizes, from leaves pushed in record order. */
export interface LeafTreeHashes {
  records: number;
  distinctRecords: number;
  orderHash: Buffer;
  setHash: Buffer;
}

/**
 * Both record trees from a stream of leaves in record order, in bounded memory: the order tree
 * block by block (streaming-merkle.ts), the set tree through the external sort (leaf-sorter.ts),
 * block roots and sorted runs computed by the record workers. Every kind of dataset (a record
 * file, a Parquet file, a WebDataset tar, a folder, shards) ends here. `dispose` (in `finally`)
 * removes the sort's temporary files; `onSetLeaves`, when given, sees the sorted distinct leaves.
 */
export class LeafTrees {
  private readonly order: StreamingMerkleRoot;
  private readonly sorter: DistinctLeafSorter;
  private set: StreamingMerkleRoot | undefined;
  /**
   * Blocks back from the workers, filled again rather than new memory, whose first write costs a
   * page fault per 4 KiB (merkle.ts, WorkBuffer). At most the blocks in flight are kept.
   */
  private readonly spareBlocks: ArrayBuffer[] = [];

  constructor(
    private readonly pool: RecordPool,
    private readonly tuning: RecordRootsTuning = {},
  ) {
    this.order = this.blockTree();
    // Ranges of held leaves sorted apart: 16, or more for more workers, so that the in-memory
    // sort runs on every core in tasks of at most 2 MiB.
    const ranges = 2 ** Math.min(8, Math.max(4, Math.ceil(Math.log2(pool.size))));
    this.sorter = new DistinctLeafSorter((run) => this.sortRun(run), { ranges, ...tuning.sort });
  }

  private get blockLeaves(): number {
    return this.tuning.blockLeaves ?? DEFAULT_BLOCK_LEAVES;
  }

  get records(): number {
    return this.order.count;
  }

  async push(leaves: Uint8Array): Promise<void> {
    await this.order.push(leaves);
    await this.sorter.push(leaves);
  }

  async finish(onSetLeaves?: (leaves: Buffer) => Promise<void>): Promise<LeafTreeHashes> {
    const orderHash = await this.order.finish();
    const set = this.blockTree();
    this.set = set;
    const distinctRecords = await this.sorter.finish(async (leaves) => {
      await onSetLeaves?.(leaves);
      await set.push(leaves);
    });
    return { records: this.order.count, distinctRecords, orderHash, setHash: await set.finish() };
  }

  /** After `finish`: the roots of both trees' full blocks of `blockLeaves` leaves (streaming-merkle.ts). */
  async fullBlockRoots(): Promise<{ blockLeaves: number; order: Buffer[]; set: Buffer[] }> {
    if (!this.set) throw new Error('block roots are known once the trees are finished');
    return {
      blockLeaves: this.blockLeaves,
      order: await this.order.fullBlockRoots(),
      set: await this.set.fullBlockRoots(),
    };
  }

  dispose(): Promise<void> {
    return this.sorter.dispose();
  }

  private blockTree(): StreamingMerkleRoot {
    return new StreamingMerkleRoot(
      (block) => this.blockRoot(block),
      this.blockLeaves,
      undefined,
      (bytes) => this.spareBlocks.pop() ?? new ArrayBuffer(bytes),
    );
  }

  private async blockRoot(block: Buffer): Promise<Buffer> {
    const leaves = exactBuffer(block);
    const { root, leaves: back } = await this.pool.run({ kind: 'root', leaves }, [leaves]);
    if (back.byteLength === this.blockLeaves * HASH_BYTES) this.spareBlocks.push(back);
    return Buffer.from(root);
  }

  private async sortRun(run: Buffer): Promise<Buffer> {
    // The sorter's runs are its own: one at the start of its buffer goes whole (spare room
    // included), without a copy.
    const leaves = run.byteOffset === 0 ? (run.buffer as ArrayBuffer) : exactBuffer(run);
    const { sorted } = await this.pool.run({ kind: 'sort', leaves, bytes: run.length }, [leaves]);
    return Buffer.from(sorted.buffer, sorted.byteOffset, sorted.byteLength);
  }
}

/**
 * What a record file's reader hands its leaves to when only the leaves are wanted (`leavesOnly`:
 * a shard, whose leaves go on to the dataset's trees through `onLeaves`): they are counted, and
 * no tree of the file's own is built, which would cost every record its tree nodes and its sort
 * a second time.
 */
export class LeafCount {
  records = 0;

  async push(leaves: Uint8Array): Promise<void> {
    this.records += leaves.length / HASH_BYTES;
  }

  async finish(): Promise<{ records: number }> {
    return { records: this.records };
  }

  async dispose(): Promise<void> {}
}

/** Both trees of a record file, or with `leavesOnly` its leaf count alone. */
export function leafSinkFor(
  pool: RecordPool,
  options: { leavesOnly?: boolean; tuning?: RecordRootsTuning },
): LeafTrees | LeafCount {
  return options.leavesOnly ? new LeafCount() : new LeafTrees(pool, options.tuning);
}

/** The bytes of `view` as a whole ArrayBuffer of their own (the view's, when it spans all of it). */
export function exactBuffer(view: Uint8Array): ArrayBuffer {
  if (view.byteOffset === 0 && view.byteLength === view.buffer.byteLength) return view.buffer as ArrayBuffer;
  return view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength) as ArrayBuffer;
}
