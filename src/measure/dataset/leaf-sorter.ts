import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HASH_BYTES } from './merkle.js';

/** Tuning of the external sort; the defaults bound its memory to about 100 MiB. */
export interface LeafSorterOptions {
  /** Leaves per sorted run, sorted by one worker task (default 2^18 = 8 MiB). */
  runLeaves?: number;
  /** Sorted leaves held in memory; beyond this every run goes to a file (default 2^20 = 32 MiB). */
  memoryLeaves?: number;
  /** Runs merged at once; more runs are first merged in groups into longer runs (default 64). */
  fanIn?: number;
  /** Leaves read at a time from each run file while merging (default 8,192 = 256 KiB). */
  readLeaves?: number;
  /** Where the temporary directory is made (default the OS temporary directory, $TMPDIR). */
  tempParent?: string;
}

/** Sorted runs waiting for their spill or merge at most; more wait for those first. */
const MAX_RUNS_SORTING = 2;

/**
 * The distinct leaves of a stream, in ascending byte order: the set tree's leaves (sorted-leaves.ts
 * defines the order) in bounded memory, whatever the leaf count. An external merge sort: leaves
 * are cut into runs, each sorted and deduplicated by `sortRun` (a worker task); runs are kept in
 * memory up to `memoryLeaves` and otherwise spilled to files in a private temporary directory
 * (mode 0700, made on the first spill, removed by `dispose`, which callers run in `finally`);
 * `finish` merges them, dropping leaves that occur in several runs.
 */
export class DistinctLeafSorter {
  private readonly runLeaves: number;
  private readonly memoryLeaves: number;
  private readonly fanIn: number;
  private readonly readLeaves: number;
  private readonly tempParent: string;
  private current: Buffer;
  private filled = 0;
  private readonly memoryRuns: Buffer[] = [];
  private heldLeaves = 0;
  private readonly fileRuns: string[] = [];
  private readonly sorting: Array<Promise<void>> = [];
  private keeping: Promise<void> = Promise.resolve();
  private directory: string | undefined;
  private runFiles = 0;
  private readonly openHandles = new Set<FileHandle>();
  private disposed = false;

  constructor(
    private readonly sortRun: (run: Buffer) => Promise<Buffer>,
    options: LeafSorterOptions = {},
  ) {
    this.runLeaves = positive(options.runLeaves ?? 2 ** 18, 'runLeaves');
    this.memoryLeaves = positive(options.memoryLeaves ?? 2 ** 20, 'memoryLeaves');
    this.fanIn = positive(options.fanIn ?? 64, 'fanIn');
    if (this.fanIn < 2) throw new RangeError('fanIn must be at least 2');
    this.readLeaves = positive(options.readLeaves ?? 8192, 'readLeaves');
    this.tempParent = options.tempParent ?? tmpdir();
    this.current = newBuffer(this.runLeaves);
  }

  /** The temporary directory, once a run has been spilled (and until `dispose`). */
  get tempDirectory(): string | undefined {
    return this.directory;
  }

  async push(leaves: Uint8Array): Promise<void> {
    const size = this.runLeaves * HASH_BYTES;
    for (let offset = 0; offset < leaves.length; ) {
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
    if (this.filled > 0) await this.sealRun();
    while (this.sorting.length > 0) await this.sorting.shift();
    await this.keeping;
    // Runs in memory (Buffer) or in files (path); more than fanIn are first merged in groups.
    const runs: Array<Buffer | string> = [...this.memoryRuns.splice(0), ...this.fileRuns.splice(0)];
    const open = (run: Buffer | string) => (typeof run === 'string' ? this.fileSource(run) : memorySource(run));
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

  private async sealRun(): Promise<void> {
    const run = this.current.subarray(0, this.filled);
    this.current = newBuffer(this.runLeaves);
    this.filled = 0;
    const kept = this.sortRun(run).then((sorted) => {
      this.keeping = this.keeping.then(() => this.keep(sorted));
      return this.keeping;
    });
    kept.catch(() => undefined); // awaited below or in finish()
    this.sorting.push(kept);
    while (this.sorting.length > MAX_RUNS_SORTING) await this.sorting.shift();
  }

  private async keep(sorted: Buffer): Promise<void> {
    const leaves = sorted.length / HASH_BYTES;
    if (this.fileRuns.length === 0 && this.heldLeaves + leaves <= this.memoryLeaves) {
      this.memoryRuns.push(sorted);
      this.heldLeaves += leaves;
      return;
    }
    for (const run of [...this.memoryRuns.splice(0), sorted]) {
      const writer = await this.createRunFile();
      await writer.handle.writeFile(run);
      await this.closeHandle(writer.handle);
      this.fileRuns.push(writer.path);
    }
    this.heldLeaves = 0;
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

async function memorySource(bytes: Buffer): Promise<RunSource> {
  return { bytes, at: 0, key: 0, refill: async () => false };
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

function newBuffer(leaves: number): Buffer {
  return Buffer.from(new ArrayBuffer(leaves * HASH_BYTES));
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  return value;
}
