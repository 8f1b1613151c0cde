/**
 * The floor of `aicert data root` on a JSONL file in Node (bench/datasets.ts runs it beside
 * `aicert data root` and openssl): the least any Node program can do that computes a leaf per
 * record, SHA-256(0x00 ‖ line), with one `crypto.hash` call each.
 *
 *   node dist/bench/leaf-floor.js FILE   → prints the line count
 *
 * The main thread reads 4 MiB pieces and cuts them after their last LF; one worker thread per core
 * hashes each line of a piece. Nothing else: no tree, no JSON or UTF-8 check, no sort, no error
 * handling worth the name, leaves discarded. What it costs above openssl is the per-call overhead
 * of `crypto.hash` (docs/datasets.md, "Cost"), which `aicert data root` pays too, plus its trees.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { hash } from 'node:crypto';

const PIECE_BYTES = 4 * 1024 * 1024;
/** The longest line carried from one piece to the next (the benchmark's lines are < 1 KiB). */
const MAX_LINE_BYTES = 1024 * 1024;

interface Piece {
  buffer: ArrayBuffer;
  /** Lines are [1, end): byte 0 is free for the 0x00 prefix of the first line. */
  end: number;
}

function hashLines({ buffer, end }: Piece): number {
  const bytes = Buffer.from(buffer);
  const leaf = Buffer.alloc(32);
  let start = 1;
  let lines = 0;
  while (start < end) {
    const lf = bytes.indexOf(10, start);
    bytes[start - 1] = 0; // the byte before a line (a LF, or the free byte 0) becomes its prefix
    leaf.write(hash('sha256', bytes.subarray(start - 1, lf), 'binary'), 0, 'latin1'); // as merkle.ts hashInto
    lines++;
    start = lf + 1;
  }
  return lines;
}

function main(path: string): void {
  const fd = openSync(path, 'r');
  const workers = Array.from({ length: availableParallelism() }, () => new Worker(new URL(import.meta.url)));
  let carry = Buffer.alloc(0);
  let inFlight = 0;
  let lines = 0;
  let ended = false;
  const finish = () => {
    closeSync(fd);
    for (const worker of workers) void worker.terminate();
    process.stdout.write(`${lines}\n`);
  };
  const feed = (worker: Worker) => {
    if (ended) {
      if (inFlight === 0) finish();
      return;
    }
    const piece = Buffer.allocUnsafe(1 + MAX_LINE_BYTES + PIECE_BYTES);
    carry.copy(piece, 1);
    const read = readSync(fd, piece, 1 + carry.length, PIECE_BYTES, null);
    if (read === 0) {
      ended = true;
      if (inFlight === 0) finish();
      return;
    }
    const filled = 1 + carry.length + read;
    const end = piece.lastIndexOf(10, filled - 1) + 1;
    carry = Buffer.from(piece.subarray(end, filled));
    inFlight++;
    worker.postMessage({ buffer: piece.buffer, end } satisfies Piece, [piece.buffer as ArrayBuffer]);
  };
  for (const worker of workers) {
    worker.on('message', (count: number) => {
      inFlight--;
      lines += count;
      feed(worker);
    });
    feed(worker);
    feed(worker);
  }
}

if (isMainThread) main(process.argv[2] ?? '');
else parentPort!.on('message', (piece: Piece) => parentPort!.postMessage(hashLines(piece)));
