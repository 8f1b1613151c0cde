/**
 * Worker thread of the hash pool (hash-pool.ts). It receives batches of byte ranges, reads each
 * with positional reads into one buffer allocated once per worker, and digests it. Hashing is
 * synchronous in Node, which is why it runs here and not on the main thread.
 *
 * Where the buffer sits matters more than its size: it is a ReadBuffer (read-buffer.ts), placed
 * in its page like the file data it receives. Misplaced, reads ran at 2.5 instead of 12 GB/s and
 * the hash lost a third of its speed (measured; docs/measure.md).
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { sameFileVersion } from './file-version.js';
import { createHasher, DIGEST_SIZE } from './hash-algorithm.js';
import type { HashTask } from './hash-pool.js';
import { ReadBuffer } from './read-buffer.js';

/** Sent by the pool. */
export interface BatchRequest {
  batchId: number;
  tasks: HashTask[];
}

/** A failure the pool turns back into an InputError (exit 2) or EnvironmentError (exit 3). */
export interface TaskFailure {
  code: string;
  message: string;
  environment: boolean;
}

/**
 * Sent by the worker: progress inside a batch, then the batch's digests end to end in task order
 * (one buffer per batch, not one object per file: 100,000 small files stay cheap; a failed
 * task's bytes stay zero) and the failures.
 */
export type WorkerReply =
  | { kind: 'progress'; batchId: number; bytes: number }
  | { kind: 'done'; batchId: number; digests: Uint8Array; failures: Array<{ index: number; failure: TaskFailure }> };

export interface WorkerOptions {
  readBufferSize: number;
}

/** Progress is reported at most once per this many bytes, so messages stay rare. */
const PROGRESS_STEP = 32 * 1024 * 1024;

class TaskError extends Error {
  constructor(readonly failure: TaskFailure) {
    super(failure.message);
  }
}

function inputFailure(code: string, message: string): TaskError {
  return new TaskError({ code, message, environment: false });
}

function changedError(path: string): TaskError {
  return inputFailure(
    'measure.file-changed',
    `${path} changed while it was being measured (its size, modification or change time, or inode moved); ` +
      'measure it again once nothing is writing to it',
  );
}

function fsFailure(err: unknown, path: string): TaskError {
  const errno = (err as NodeJS.ErrnoException).code;
  switch (errno) {
    case 'ENOENT':
      return inputFailure('measure.file-missing', `${path} disappeared while it was being measured`);
    case 'EACCES':
    case 'EPERM':
      return inputFailure('measure.unreadable', `cannot read ${path}: permission denied`);
    case 'EISDIR':
      return inputFailure('measure.not-a-file', `${path} is a directory, not a file`);
    default:
      return new TaskError({
        code: 'measure.read-failed',
        message: `cannot read ${path}: ${(err as Error).message}`,
        environment: true,
      });
  }
}

function hashRange(task: HashTask, readBuffer: ReadBuffer, reportProgress: (bytes: number) => void): Uint8Array {
  const { path, start, end } = task;
  // Reads stay congruent to `start` modulo the page size because the buffer size is a multiple of it.
  const buffer = readBuffer.alignedFor(start);
  let fd: number;
  try {
    // O_NONBLOCK: a named pipe put where a file was must fail the isFile check, not hang the open.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw fsFailure(err, path);
  }
  try {
    const before = fstatSync(fd);
    if (!before.isFile()) throw inputFailure('measure.not-a-file', `${path} is not a regular file`);
    const sizeMoved = task.expectedSize !== undefined && before.size !== task.expectedSize;
    const versionMoved = task.expectedVersion !== undefined && !sameFileVersion(before, task.expectedVersion);
    if (sizeMoved || versionMoved) throw changedError(path);
    if (end > before.size) {
      throw inputFailure(
        'measure.range-outside-file',
        `byte range [${start}, ${end}) lies outside ${path}, which has ${before.size} bytes`,
      );
    }
    const hasher = createHasher(task.algorithm);
    let unreported = 0;
    for (let position = start; position < end; ) {
      const wanted = Math.min(buffer.length, end - position);
      let read: number;
      try {
        read = readSync(fd, buffer, 0, wanted, position);
      } catch (err) {
        throw fsFailure(err, path);
      }
      if (read === 0) throw changedError(path); // the file shrank under us
      hasher.update(read === buffer.length ? buffer : buffer.subarray(0, read));
      position += read;
      unreported += read;
      if (unreported >= PROGRESS_STEP) {
        reportProgress(unreported);
        unreported = 0;
      }
    }
    // ctime catches a writer that puts mtime back (utimes moves ctime); see file-version.ts.
    if (!sameFileVersion(before, fstatSync(fd))) throw changedError(path);
    return hasher.digest();
  } finally {
    closeSync(fd);
  }
}

function runBatch(request: BatchRequest, buffer: ReadBuffer): WorkerReply {
  const { batchId, tasks } = request;
  const digests = new Uint8Array(tasks.reduce((sum, task) => sum + DIGEST_SIZE[task.algorithm], 0));
  const failures: Array<{ index: number; failure: TaskFailure }> = [];
  const reportProgress = (bytes: number) =>
    parentPort!.postMessage({ kind: 'progress', batchId, bytes } satisfies WorkerReply);
  let offset = 0;
  tasks.forEach((task, index) => {
    try {
      digests.set(hashRange(task, buffer, reportProgress), offset);
    } catch (err) {
      const failure =
        err instanceof TaskError
          ? err.failure
          : { code: 'measure.hash-failed', message: `hashing ${task.path} failed: ${String(err)}`, environment: true };
      failures.push({ index, failure });
    }
    offset += DIGEST_SIZE[task.algorithm];
  });
  return { kind: 'done', batchId, digests, failures };
}

if (parentPort) {
  const { readBufferSize } = workerData as WorkerOptions;
  const buffer = new ReadBuffer(readBufferSize);
  parentPort.on('message', (request: BatchRequest) => {
    const reply = runBatch(request, buffer);
    parentPort!.postMessage(reply, reply.kind === 'done' ? [reply.digests.buffer as ArrayBuffer] : []);
  });
}
