import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HASH_BYTES } from './merkle.js';

/** Tuning of the external sort; the defaults bound its memory to about 100 MiB. */
export interface LeafSorterOptions {
  /** Leaves per sorted run, sorted by one worker task (default 2^18 = 8 MiB). */
  runLeaves?: number;
  /**
   * Leaves held in memory, unsorted, and sorted at once at the end; beyond this every run is
   * sorted and goes to a file (default 2^20 = 32 MiB).
   */
  memoryLeaves?: number;
  /** Runs merged at once; more runs are first merged in groups into longer runs (default 64). */
  fanIn?: number;
  /** Leaves read at a time from each run file while merging (default 8,192 = 256 KiB). */
  readLeaves?: number;
  /**
   * Ranges of leaves held in memory that are sorted apart, at once, by as many tasks: a power of
   * two up to 256 (default 1). Leaf i goes to range (first byte of i) >> (8 − log2 ranges), so
   * the sorted ranges follow each other in order with no merge, and equal leaves share a range.
   */
  ranges?: number;
  /** Where the temporary directory is made (default the OS temporary directory, $TMPDIR). */
  tempParent?: string;
}

/** Sorted runs waiting for their spill or merge at most; more wait for those first. */
const MAX_RUNS_SORTING = 2;

/**
 * The distinct leaves of a stream, in ascending byte order: the set tree's leaves (sorted-leaves.ts
 * defines the order) in bounded memory, whatever the leaf count. Up to `memoryLeaves` leaves are
 * only held, spread over `ranges` by their first bits, and `finish` sorts and deduplicates each
 * range with `sortRun` (worker tasks, run side by side): no merge on this thread. Past that bound
 * it is an external merge sort: leaves are cut into runs of `runLeaves`, and every run, those held
 * included, is sorted by `sortRun` and spilled to a file in a
 * private temporary directory (mode 0700, made on the first spill, removed by `dispose`, which
 * callers run in `finally`); `finish` merges them, dropping leaves that occur in several runs.
 */
export class DistinctLeafSorter {
  private readonly runLeaves: number;
  private readonly memoryLeaves: number;
  private readonly fanIn: number;
  private readonly readLeaves: number;
  private readonly tempParent: string;
  private current: Buffer;
  private filled = 0;
  /** Per range, unsorted chunks of up to `runLeaves` held while the leaves fit in `memoryLeaves`. */
  private readonly held: Buffer[][];
  /** Per range, the bytes filled in its last chunk. */
  private readonly heldFill: number[];
  private readonly rangeShift: number;
  /** Leaves per held chunk: twice a range's share of `memoryLeaves`, so that a range is usually one chunk. */
  private readonly heldChunkLeaves: number;
  private heldLeaves = 0;
  /** Set once the leaves outgrow `memoryLeaves`: from then on every run is sorted and spilled. */
  private spilling = false;
  private readonly fileRuns: string[] = [];
  private readonly sorting: Array<Promise<void>> = [];
  private keeping: Promise<void> = Promise.resolve();
  private directory: string | undefined;
  private runFiles = 0;
  private readonly openHandles = new Set<FileHandle>();
  private disposed = false;

  constructor(
    /** Sorts a run and drops its duplicates; the run's ArrayBuffer is the sorter's own, given away. */
    private readonly sortRun: (run: Buffer) => Promise<Buffer>,
    options: LeafSorterOptions = {},
  ) {
    this.runLeaves = positive(options.runLeaves ?? 2 ** 18, 'runLeaves');
    this.memoryLeaves = positive(options.memoryLeaves ?? 2 ** 20, 'memoryLeaves');
    this.fanIn = positive(options.fanIn ?? 64, 'fanIn');
    if (this.fanIn < 2) throw new RangeError('fanIn must be at least 2');
    this.readLeaves = positive(options.readLeaves ?? 8192, 'readLeaves');
    this.tempParent = options.tempParent ?? tmpdir();
    const ranges = options.ranges ?? 1;
    if (!Number.isSafeInteger(ranges) || ranges < 1 || ranges > 256 || (ranges & (ranges - 1)) !== 0) {
      throw new RangeError('ranges must be a power of two from 1 to 256');
    }
    this.rangeShift = 8 - Math.log2(ranges);
    this.held = Array.from({ length: ranges }, () => []);
    this.heldFill = new Array<number>(ranges).fill(0);
    this.heldChunkLeaves = Math.min(this.runLeaves, Math.ceil((2 * this.memoryLeaves) / ranges));
    this.current = newBuffer(this.runLeaves);
  }

  /** The temporary directory, once a run has been spilled (and until `dispose`). */
  get tempDirectory(): string | undefined {
    return this.directory;
  }

  async push(leaves: Uint8Array): Promise<void> {
    let offset = 0;
    if (!this.spilling) {
      offset = Math.min(leaves.length, (this.memoryLeaves - this.heldLeaves) * HASH_BYTES);
      this.hold(leaves, offset);
      if (offset === leaves.length) return;
      await this.startSpilling();
    }
    const size = this.runLeaves * HASH_BYTES;
    while (offset < leaves.length) {
      const take = Math.min(size - this.filled, leaves.length - offset);
      this.current.set(leaves.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === size) await this.sealRun();
    }
  }

  /**
   * Streams the sorted distinct leaves to `emit` in batches of up to `batchLeaves` (a batch is
   * reused once `emit` resolves) and returns how many there were.
   */
  async finish(emit: (leaves: Buffer) => Promise<void>, batchLeaves = 8192): Promise<number> {
    if (!this.spilling) return this.sortHeld(emit, batchLeaves);
    if (this.filled > 0) await this.sealRun();
    while (this.sorting.length > 0) await this.sorting.shift();
    await this.keeping;
    // Runs in files; more than fanIn are first merged in groups.
    const runs: string[] = this.fileRuns.splice(0);
    const open = (run: string) => this.fileSource(run);
    while (runs.length > this.fanIn) {
      const group = runs.splice(0, this.fanIn);
      const writer = await this.createRunFile();
      await this.merge(await Promise.all(group.map(open)), (leaves) => writer.handle.writeFile(leaves));
      await this.closeHandle(writer.handle);
      runs.push(writer.path);
    }
    const sources = await Promise.all(runs.map(open));
    return this.merge(sources, emit, batchLeaves);
  }

  /**
   * Removes the temporary directory and everything in it, after the runs still being sorted or
   * spilled have settled (a spill finishing later would make the directory again); safe to call
   * more than once.
   */
  async dispose(): Promise<void> {
    this.disposed = true;
    await Promise.allSettled(this.sorting.splice(0));
    await this.keeping.catch(() => undefined);
    await Promise.allSettled([...this.openHandles].map((handle) => this.closeHandle(handle)));
    if (this.directory !== undefined) {
      const directory = this.directory;
      this.directory = undefined;
      await rm(directory, { recursive: true, force: true });
    }
  }

  /** Copies leaves[0, end) into the chunks of their ranges. */
  private hold(leaves: Uint8Array, end: number): void {
    const chunkBytes = this.heldChunkLeaves * HASH_BYTES;
    for (let at = 0; at < end; at += HASH_BYTES) {
      const range = leaves[at]! >> this.rangeShift;
      const chunks = this.held[range]!;
      let fill = this.heldFill[range]!;
      if (chunks.length === 0 || fill === chunkBytes) {
        chunks.push(newBuffer(this.heldChunkLeaves));
        fill = 0;
      }
      const chunk = chunks[chunks.length - 1]!;
      // 32 bytes copied by a loop: cheaper than a native call per leaf.
      for (let k = 0; k < HASH_BYTES; k++) chunk[fill + k] = leaves[at + k]!;
      this.heldFill[range] = fill + HASH_BYTES;
    }
    this.heldLeaves += end / HASH_BYTES;
  }

  /** The held leaves outgrew `memoryLeaves`: they are sorted and spilled, and so is every later run. */
  private async startSpilling(): Promise<void> {
    this.spilling = true;
    for (const chunk of this.takeHeld().flat()) await this.sortAndSpill(chunk);
  }

  /** Per range, its held chunks (the last one cut to its fill), and forgets them. */
  private takeHeld(): Buffer[][] {
    const taken = this.held.map((chunks, range) =>
      chunks.splice(0).map((chunk, i, all) => (i === all.length - 1 ? chunk.subarray(0, this.heldFill[range]) : chunk)),
    );
    this.heldFill.fill(0);
    this.heldLeaves = 0;
    return taken;
  }

  private async sealRun(): Promise<void> {
    const run = this.current.subarray(0, this.filled);
    this.current = newBuffer(this.runLeaves);
    this.filled = 0;
    await this.sortAndSpill(run);
  }

  /** Sorts one run in a worker and writes it to a file, a bounded number of runs at a time. */
  private async sortAndSpill(run: Buffer): Promise<void> {
    const kept = this.sortRun(run).then((sorted) => {
      this.keeping = this.keeping.then(() => this.spill(sorted));
      return this.keeping;
    });
    kept.catch(() => undefined); // awaited below or in finish()
    this.sorting.push(kept);
    while (this.sorting.length > MAX_RUNS_SORTING) await this.sorting.shift();
  }

  private async spill(sorted: Buffer): Promise<void> {
    const writer = await this.createRunFile();
    await writer.handle.writeFile(sorted);
    await this.closeHandle(writer.handle);
    this.fileRuns.push(writer.path);
  }

  /** All leaves fitted in memory: each range sorted by a task of its own, side by side, then emitted in order. */
  private async sortHeld(emit: (leaves: Buffer) => Promise<void>, batchLeaves: number): Promise<number> {
    const sorts = this.takeHeld().map((chunks) => {
      if (chunks.length === 0) return Promise.resolve(Buffer.alloc(0));
      const sorted = this.sortRun(chunks.length === 1 ? chunks[0]! : joined(chunks));
      sorted.catch(() => undefined); // awaited in order below
      return sorted;
    });
    let total = 0;
    for (const next of sorts) {
      const sorted = await next;
      for (let at = 0; at < sorted.length; at += batchLeaves * HASH_BYTES) {
        await emit(sorted.subarray(at, Math.min(sorted.length, at + batchLeaves * HASH_BYTES)));
      }
      total += sorted.length / HASH_BYTES;
    }
    return total;
  }

  private async createRunFile(): Promise<{ path: string; handle: FileHandle }> {
    if (this.disposed) throw new Error('the leaf sorter was disposed');
    // mkdtemp makes the directory with mode 0700: only this user can list or open the runs.
    this.directory ??= await mkdtemp(join(this.tempParent, 'aicert-leaves-'));
    const path = join(this.directory, `run-${this.runFiles++}`);
    const handle = await open(path, 'wx', 0o600);
    this.openHandles.add(handle);
    return { path, handle };
  }

  private async closeHandle(handle: FileHandle): Promise<void> {
    this.openHandles.delete(handle);
    await handle.close();
  }

  private async fileSource(path: string): Promise<RunSource> {
    const handle = await open(path, 'r');
    this.openHandles.add(handle);
    const buffer = Buffer.allocUnsafe(this.readLeaves * HASH_BYTES);
    let position = 0;
    const source: RunSource = {
      bytes: buffer.subarray(0, 0),
      at: 0,
      key: 0,
      refill: async () => {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        position += bytesRead;
        source.bytes = buffer.subarray(0, bytesRead - (bytesRead % HASH_BYTES));
        source.at = 0;
        if (source.bytes.length > 0) return true;
        await this.closeHandle(handle);
        await rm(path, { force: true });
        return false;
      },
    };
    return source;
  }

  /** k-way merge of sorted distinct runs into `emit`, dropping leaves equal to the previous one. */
  private async merge(
    sources: RunSource[],
    emit: (leaves: Buffer) => Promise<void>,
    batchLeaves = 8192,
  ): Promise<number> {
    const heap: RunSource[] = [];
    for (const source of sources) {
      if (source.at >= source.bytes.length && !(await source.refill())) continue;
      source.key = leadingKey(source.bytes, source.at);
      heap.push(source);
    }
    for (let i = Math.floor(heap.length / 2) - 1; i >= 0; i--) siftDown(heap, i);
    const out = newBuffer(batchLeaves);
    const last = Buffer.alloc(HASH_BYTES);
    let filled = 0;
    let total = 0;
    let lastKey = -1;
    while (heap.length > 0) {
      const top = heap[0]!;
      const at = top.at;
      // Runs are distinct each; a leaf equal to the one before comes from another run.
      const duplicate = top.key === lastKey && top.bytes.compare(last, 0, HASH_BYTES, at, at + HASH_BYTES) === 0;
      if (!duplicate) {
        // 32 bytes copied by a loop: cheaper than two native calls per leaf on the main thread.
        const bytes = top.bytes;
        const to = filled * HASH_BYTES;
        for (let k = 0; k < HASH_BYTES; k++) {
          const byte = bytes[at + k]!;
          out[to + k] = byte;
          last[k] = byte;
        }
        lastKey = top.key;
        filled++;
        total++;
        if (filled === batchLeaves) {
          await emit(out);
          filled = 0;
        }
      }
      top.at += HASH_BYTES;
      if (top.at >= top.bytes.length && !(await top.refill())) {
        const tail = heap.pop()!;
        if (heap.length > 0 && tail !== top) {
          heap[0] = tail;
          siftDown(heap, 0);
        }
        continue;
      }
      top.key = leadingKey(top.bytes, top.at);
      siftDown(heap, 0);
    }
    if (filled > 0) await emit(out.subarray(0, filled * HASH_BYTES));
    return total;
  }
}

interface RunSource {
  bytes: Buffer;
  /** Byte offset of the current leaf in `bytes`. */
  at: number;
  /** The current leaf's first 48 bits. */
  key: number;
  /** Loads the next leaves; false at the end of the run. */
  refill: () => Promise<boolean>;
}

function leadingKey(bytes: Buffer, at: number): number {
  return bytes.readUIntBE(at, 6);
}

function before(a: RunSource, b: RunSource): boolean {
  if (a.key !== b.key) return a.key < b.key;
  return a.bytes.compare(b.bytes, b.at, b.at + HASH_BYTES, a.at, a.at + HASH_BYTES) < 0;
}

function siftDown(heap: RunSource[], from: number): void {
  const length = heap.length;
  let index = from;
  for (;;) {
    const left = 2 * index + 1;
    if (left >= length) return;
    const right = left + 1;
    const child = right < length && before(heap[right]!, heap[left]!) ? right : left;
    if (!before(heap[child]!, heap[index]!)) return;
    [heap[child], heap[index]] = [heap[index]!, heap[child]!];
    index = child;
  }
}

/** The chunks one after another in a buffer of the sorter's own. */
function joined(chunks: Buffer[]): Buffer {
  const whole = newBuffer(chunks.reduce((sum, chunk) => sum + chunk.length, 0) / HASH_BYTES);
  let at = 0;
  for (const chunk of chunks) at += chunk.copy(whole, at);
  return whole;
}

function newBuffer(leaves: number): Buffer {
  return Buffer.from(new ArrayBuffer(leaves * HASH_BYTES));
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  return value;
}
