import type { FileHandle } from 'node:fs/promises';
import { InputError } from '../../errors.js';
import { fileVersionOf, type FileVersion } from '../file-version.js';
import { checkReadWhole, versionBeforeRead } from './record-file-version.js';
import type { LeafSorterOptions } from './leaf-sorter.js';
import { type LeafCount, leafSinkFor, type LeafTrees } from './leaf-trees.js';
import { PieceCutter } from './piece-cutter.js';
import type { PieceLeaves } from './piece-leaves.js';
import type { RecordFormat } from './record-format.js';
import { RecordPool } from './record-pool.js';
import { DEFAULT_MAX_RECORD_BYTES, recordSplitter } from './records.js';

/** Bytes read at a time, and so the usual size of a piece (one worker task). */
const DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Both trees of one record file, by their RFC 6962 hashes and sizes, without the leaves. */
export interface RecordRoots {
  format: RecordFormat;
  /** Leaves of the order tree: every record. */
  records: number;
  /** Leaves of the set tree: distinct records. */
  distinctRecords: number;
  /** MTH of the order tree (dataset-root.ts binds kind and size on top). */
  orderHash: Buffer;
  /** MTH of the set tree. */
  setHash: Buffer;
  /** CSV: the header row's raw bytes. */
  header?: Buffer;
  /** The version of the file read: the same before the first read and after the last. */
  version: FileVersion;
}

/** A record file read with `leavesOnly`: its leaves went to `onLeaves`, and no tree was built. */
export type RecordLeavesRead = Omit<RecordRoots, 'distinctRecords' | 'orderHash' | 'setHash'>;

/** Sizes that the tests make small so that small files take every path. */
export interface RecordRootsTuning {
  chunkBytes?: number;
  blockLeaves?: number;
  sort?: LeafSorterOptions;
}

export interface RecordRootsOptions {
  format: RecordFormat;
  maxRecordBytes?: number;
  /**
   * Sees every byte read, in order, before it is split: the file digest (record-file-measurement.ts).
   * The chunk's memory is reused once the call returns.
   */
  onBytes?: (chunk: Buffer) => void;
  /** The version the file had when it was listed; another one is `dataset.changed`. */
  expectedVersion?: FileVersion;
  /** The workers; a pool of its own (closed afterwards) when absent. */
  pool?: RecordPool;
  tuning?: RecordRootsTuning;
  /** Sees the leaves in record order as they are collected: a sharded dataset's own trees (dataset-source.ts). */
  onLeaves?: (leaves: Buffer) => Promise<void>;
  /** Both trees are built; `LeavesOnly` options (leavesOnly: true) read the leaves alone. */
  leavesOnly?: false;
}

/**
 * Options that read a record file for its leaves alone, handed to `onLeaves`, without building
 * its own trees: a shard, whose leaves make the dataset's trees (dataset-source.ts). A single
 * file's trees, and `run --data`'s per-file record trees (record-file-measurement.ts), need them.
 */
export type LeavesOnly<O> = Omit<O, 'leavesOnly' | 'onLeaves'> & {
  leavesOnly: true;
  onLeaves: (leaves: Buffer) => Promise<void>;
};

/**
 * The order and set trees of the record file open as `handle` (named `path` in errors), built in
 * parallel and in bounded memory (docs/datasets.md, "How the trees are built"):
 * - the main thread reads the file once through this descriptor, from its first byte to its
 *   end, hands every byte to `onBytes` and cuts the bytes into pieces of whole records
 *   (piece-cutter.ts);
 * - record workers split each piece and hash its leaves (piece-leaves.ts);
 * - the leaves, collected in file order, feed the order tree block by block (streaming-merkle.ts)
 *   and the external sort of the set tree (leaf-sorter.ts).
 * The records, leaves, roots and errors are those of the serial reference (records.ts,
 * dataset-tree.ts): a piece that fails is split again by the serial splitter from its true
 * first line, so the error is the one the serial read reports.
 * With `leavesOnly` (a shard), the leaves go to `onLeaves` and no tree is built.
 */
export async function recordRootsOf(
  handle: FileHandle,
  path: string,
  options: LeavesOnly<RecordRootsOptions>,
): Promise<RecordLeavesRead>;
export async function recordRootsOf(
  handle: FileHandle,
  path: string,
  options: RecordRootsOptions,
): Promise<RecordRoots>;
export async function recordRootsOf(
  handle: FileHandle,
  path: string,
  options: RecordRootsOptions | LeavesOnly<RecordRootsOptions>,
): Promise<RecordRoots | RecordLeavesRead> {
  const pool = options.pool ?? new RecordPool();
  try {
    return await new RecordRootsBuild(handle, path, options, pool).run();
  } finally {
    if (!options.pool) await pool.close();
  }
}

interface InFlightPiece {
  result: Promise<{ piece: PieceLeaves; buffer?: ArrayBuffer }>;
  start: number;
  end: number;
  final: boolean;
}

class RecordRootsBuild {
  private readonly format: RecordFormat;
  private readonly maxRecordBytes: number;
  private readonly chunkBytes: number;
  private readonly inFlight: InFlightPiece[] = [];
  private readonly maxInFlight: number;
  private readonly trees: LeafTrees | LeafCount;
  /** LF bytes in the pieces collected so far: the next piece starts on line `lines + 1`. */
  private lines = 0;
  private header: Buffer | undefined;
  private headerFields: number | undefined;
  /**
   * Piece buffers back from the workers, to read the next pieces into. Fresh memory costs a page
   * fault per 4 KiB on its first write (about a second for 0.5 GB on a virtual machine, as much as
   * all the hashing); reusing the few buffers in flight faults them in once.
   */
  private readonly spare: ArrayBuffer[] = [];
  /** Room for the carried partial record in a reused piece buffer. */
  private readonly carryRoom: number;

  constructor(
    private readonly handle: FileHandle,
    private readonly path: string,
    private readonly options: RecordRootsOptions | LeavesOnly<RecordRootsOptions>,
    private readonly pool: RecordPool,
  ) {
    this.format = options.format;
    this.maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    this.chunkBytes = options.tuning?.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    if (!Number.isSafeInteger(this.chunkBytes) || this.chunkBytes < UTF8_BOM.length) {
      throw new RangeError(`chunk size must be an integer ≥ ${UTF8_BOM.length}`);
    }
    this.maxInFlight = 2 * pool.size + 1;
    this.carryRoom = Math.floor(this.chunkBytes / 16);
    this.trees = leafSinkFor(pool, options);
  }

  async run(): Promise<RecordRoots | RecordLeavesRead> {
    try {
      const before = await versionBeforeRead(this.handle, this.path, this.options.expectedVersion);
      const size = await this.readPieces();
      await checkReadWhole(this.handle, this.path, before, size);
      return {
        format: this.format,
        ...(await this.trees.finish()),
        ...(this.header && { header: this.header }),
        version: fileVersionOf(before),
      };
    } finally {
      await this.trees.dispose();
    }
  }

  /** Reads the whole file, dispatching pieces and collecting them in order; returns the bytes read. */
  private async readPieces(): Promise<number> {
    const cutter = new PieceCutter(this.format);
    let carry = Buffer.alloc(0);
    let position = 0;
    for (;;) {
      // Byte 0 is the free byte before the piece (piece-leaves.ts); the carried partial record follows.
      const chunk = Buffer.from(this.pieceBuffer(carry.length));
      carry.copy(chunk, 1);
      const dataStart = 1 + carry.length;
      const bytesRead = await this.readFully(chunk, dataStart, position);
      if (bytesRead === 0) break;
      this.options.onBytes?.(chunk.subarray(dataStart, dataStart + bytesRead));
      const end = dataStart + bytesRead;
      // A byte order mark is not content; the first read holds all of it (readFully).
      const pieceStart = position === 0 && chunk.subarray(1, 4).equals(UTF8_BOM) ? 1 + UTF8_BOM.length : 1;
      position += bytesRead;
      const cut = cutter.lastBoundary(chunk, pieceStart, Math.max(dataStart, pieceStart), end);
      if (cut < 0) {
        carry = chunk.subarray(pieceStart, end);
        if (carry.length > this.maxRecordBytes + 1) await this.failTooLong(carry);
        continue;
      }
      carry = Buffer.from(chunk.subarray(cut, end));
      await this.dispatch(chunk.buffer as ArrayBuffer, pieceStart, cut, false);
    }
    if (carry.length > 0) {
      const last = Buffer.from(new ArrayBuffer(1 + carry.length));
      carry.copy(last, 1);
      await this.dispatch(last.buffer as ArrayBuffer, 1, last.length, true);
    }
    while (this.inFlight.length > 0) await this.collectNext();
    return position;
  }

  /**
   * A buffer for the next piece: a spare one when the carried bytes fit its room (it then holds a
   * little more or less than `chunkBytes` of new bytes), else a new one.
   */
  private pieceBuffer(carried: number): ArrayBuffer {
    if (carried > this.carryRoom) return new ArrayBuffer(1 + carried + this.chunkBytes);
    return this.spare.pop() ?? new ArrayBuffer(this.reusableBytes);
  }

  private get reusableBytes(): number {
    return 1 + this.carryRoom + this.chunkBytes;
  }

  /** Fills buffer[offset, end) from the file unless it ends first; returns the bytes read. */
  private async readFully(buffer: Buffer, offset: number, position: number): Promise<number> {
    let total = 0;
    while (offset + total < buffer.length) {
      const { bytesRead } = await this.handle.read(
        buffer,
        offset + total,
        buffer.length - offset - total,
        position + total,
      );
      if (bytesRead === 0) break;
      total += bytesRead;
    }
    return total;
  }

  private async dispatch(buffer: ArrayBuffer, start: number, end: number, final: boolean): Promise<void> {
    const result = this.pool.run(
      {
        kind: 'piece',
        buffer,
        start,
        end,
        format: this.format,
        final,
        maxRecordBytes: this.maxRecordBytes,
        ...(this.headerFields !== undefined && { headerFields: this.headerFields }),
      },
      [buffer],
    );
    result.catch(() => undefined); // collected in order below
    this.inFlight.push({ result, start, end, final });
    // CSV pieces after the header need its field count: until it is known, one piece at a time.
    const headerPending = this.format === 'csv' && this.headerFields === undefined;
    while (this.inFlight.length > (headerPending ? 0 : this.maxInFlight)) await this.collectNext();
  }

  /** Takes the oldest piece's leaves into both trees; a failed piece is the file's first error. */
  private async collectNext(): Promise<void> {
    const next = this.inFlight.shift()!;
    const { piece, buffer } = await next.result;
    if (piece.failure) {
      const bytes = buffer ? Buffer.from(buffer, next.start, next.end - next.start) : Buffer.alloc(0);
      throw this.serialError(bytes, next.final) ?? new InputError(piece.failure.code, piece.failure.message);
    }
    if (buffer?.byteLength === this.reusableBytes) this.spare.push(buffer);
    this.lines += piece.lines;
    if (piece.header) {
      this.header = Buffer.from(piece.header);
      this.headerFields = piece.headerFields;
    }
    const leaves = Buffer.from(piece.leaves.buffer, piece.leaves.byteOffset, piece.leaves.byteLength);
    await this.trees.push(leaves);
    await this.options.onLeaves?.(leaves);
  }

  /** A partial record over the length limit: after any earlier error, the serial one for it. */
  private async failTooLong(carry: Buffer): Promise<never> {
    while (this.inFlight.length > 0) await this.collectNext();
    throw (
      this.serialError(carry, false) ??
      new InputError('dataset.record-too-long', `a record is longer than ${this.maxRecordBytes} bytes`)
    );
  }

  /** The error the serial splitter reports for `bytes`, which start on line `lines + 1`. */
  private serialError(bytes: Buffer, final: boolean): Error | undefined {
    const info = this.headerFields === undefined ? {} : { header: Buffer.alloc(0), headerFields: this.headerFields };
    const splitter = recordSplitter(this.format, this.maxRecordBytes, () => undefined, info, {
      firstLine: this.lines + 1,
    });
    try {
      splitter.push(bytes);
      if (final) splitter.end();
    } catch (err) {
      return err as Error;
    }
    return undefined;
  }
}
