/**
 * Worker thread of the record pool (record-pool.ts): the CPU-bound parts of building record
 * trees, so that they run on every core while the main thread only reads, cuts and collects:
 * - `piece`: split one piece of a record file and hash its records' leaves (piece-leaves.ts);
 * - `root`: the RFC 6962 hash of a block of leaves (streaming-merkle.ts);
 * - `sort`: sort a run of leaves and drop duplicates (leaf-sorter.ts).
 * Parquet row groups are decoded elsewhere, in workers bounded in time (parquet-decoders.ts).
 */
import { parentPort } from 'node:worker_threads';
import { HASH_BYTES, merkleRoot, WorkBuffer } from './merkle.js';
import { pieceLeaves, type PieceLeaves } from './piece-leaves.js';
import type { RecordFormat } from './record-format.js';
import { sortDistinctInPlace } from './sorted-leaves.js';

export type RecordTask =
  | {
      kind: 'piece';
      /** The piece is [start, end) of `buffer`; byte start − 1 is free (piece-leaves.ts). */
      buffer: ArrayBuffer;
      start: number;
      end: number;
      format: RecordFormat;
      final: boolean;
      maxRecordBytes: number;
      headerFields?: number;
    }
  | { kind: 'root'; leaves: ArrayBuffer }
  /** The run is the first `bytes` bytes of `leaves`; it is sorted in place and comes back. */
  | { kind: 'sort'; leaves: ArrayBuffer; bytes: number };

export type RecordTaskResult =
  /**
   * `buffer`, the piece's, comes back: the caller reads a later piece into it, or re-splits it for
   * the message when the piece failed.
   */
  | { kind: 'piece'; piece: PieceLeaves; buffer?: ArrayBuffer }
  /** `leaves`, the block's, comes back to be filled again (leaf-trees.ts). */
  | { kind: 'root'; root: Uint8Array; leaves: ArrayBuffer }
  | { kind: 'sort'; sorted: Uint8Array };

export type RecordWorkerReply =
  | { id: number; ok: true; result: RecordTaskResult }
  | { id: number; ok: false; message: string };

/** The working buffer of block roots and sorts, kept across tasks (merkle.ts). */
const scratch = new WorkBuffer();

async function runTask(task: RecordTask): Promise<{ result: RecordTaskResult; transfer: ArrayBuffer[] }> {
  switch (task.kind) {
    case 'piece': {
      const piece = pieceLeaves({
        bytes: new Uint8Array(task.buffer, task.start, task.end - task.start),
        format: task.format,
        final: task.final,
        maxRecordBytes: task.maxRecordBytes,
        ...(task.headerFields !== undefined && { headerFields: task.headerFields }),
      });
      return {
        result: { kind: 'piece', piece, buffer: task.buffer },
        transfer: [piece.leaves.buffer as ArrayBuffer, task.buffer],
      };
    }
    case 'root': {
      const root = new Uint8Array(merkleRoot(Buffer.from(task.leaves), scratch));
      return { result: { kind: 'root', root, leaves: task.leaves }, transfer: [task.leaves] };
    }
    case 'sort': {
      const run = Buffer.from(task.leaves, 0, task.bytes);
      const sorted = new Uint8Array(task.leaves, 0, sortDistinctInPlace(run, scratch) * HASH_BYTES);
      return { result: { kind: 'sort', sorted }, transfer: [task.leaves] };
    }
  }
}

if (parentPort) {
  const port = parentPort;
  port.on('message', ({ id, task }: { id: number; task: RecordTask }) => {
    runTask(task).then(
      ({ result, transfer }) => port.postMessage({ id, ok: true, result } satisfies RecordWorkerReply, transfer),
      (err) =>
        port.postMessage({ id, ok: false, message: String((err as Error)?.stack ?? err) } satisfies RecordWorkerReply),
    );
  });
}
