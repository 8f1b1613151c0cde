/**
 * Worker thread of the record pool (record-pool.ts): the CPU-bound parts of building record
 * trees, so that they run on every core while the main thread only reads, cuts and collects:
 * - `piece`: split one piece of a record file and hash its records' leaves (piece-leaves.ts);
 * - `root`: the RFC 6962 hash of a block of leaves (streaming-merkle.ts);
 * - `sort`: sort a run of leaves and drop duplicates (leaf-sorter.ts).
 * Parquet row groups are decoded elsewhere, in workers bounded in time (parquet-decoders.ts).
 */
import { parentPort } from 'node:worker_threads';
import { merkleRoot } from './merkle.js';
import { pieceLeaves, type PieceLeaves } from './piece-leaves.js';
import type { RecordFormat } from './record-format.js';
import { sortedDistinctLeaves } from './sorted-leaves.js';

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
  | { kind: 'sort'; leaves: ArrayBuffer };

export type RecordTaskResult =
  /** `buffer` comes back only when the piece failed: the caller re-splits it for the message. */
  | { kind: 'piece'; piece: PieceLeaves; buffer?: ArrayBuffer }
  | { kind: 'root'; root: Uint8Array }
  | { kind: 'sort'; sorted: Uint8Array };

export type RecordWorkerReply =
  | { id: number; ok: true; result: RecordTaskResult }
  | { id: number; ok: false; message: string };

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
      const transfer = [piece.leaves.buffer as ArrayBuffer];
      if (!piece.failure) return { result: { kind: 'piece', piece }, transfer };
      return { result: { kind: 'piece', piece, buffer: task.buffer }, transfer: [...transfer, task.buffer] };
    }
    case 'root': {
      const root = new Uint8Array(merkleRoot(Buffer.from(task.leaves)));
      return { result: { kind: 'root', root }, transfer: [] };
    }
    case 'sort': {
      const sorted = new Uint8Array(sortedDistinctLeaves(Buffer.from(task.leaves)));
      return { result: { kind: 'sort', sorted }, transfer: [sorted.buffer as ArrayBuffer] };
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
