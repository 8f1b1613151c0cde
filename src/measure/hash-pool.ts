/**
 * A pool of worker threads that hash byte ranges of files (docs/measure.md). One task is one file or
 * one shard of a file; the main thread only plans and collects, so its event loop never blocks.
 *
 * Scheduling: tasks of one `hashAll` call are handed out largest first (so that a big file does
 * not start last and leave the other cores idle) and small ones are grouped into batches, so that
 * 100,000 small files do not cost 100,000 message round trips.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type AicertError, EnvironmentError, InputError } from '../errors.js';
import { DIGEST_SIZE, HASH_ALGORITHMS, type HashAlgorithm } from './hash-algorithm.js';
import type { FileVersion } from './file-version.js';
import type { BatchRequest, TaskFailure, WorkerOptions, WorkerReply } from './hash-worker.js';
import { stopWorker } from '../util/stop-worker.js';

export { DIGEST_SIZE, HASH_ALGORITHMS, type HashAlgorithm };

/** The byte range [start, end) of the file at `path`. */
export interface HashTask {
  path: string;
  start: number;
  end: number;
  algorithm: HashAlgorithm;
  /** When set, the file must still have this size when it is opened, else `measure.file-changed`. */
  expectedSize?: number;
  /**
   * When set (from the listing), the file opened must be this version: the same inode, size,
   * mtime and ctime, else `measure.file-changed`.
   */
  expectedVersion?: FileVersion;
}

export interface HashPoolOptions {
  /** Number of worker threads; default: the number of cores Node may use. */
  workers?: number;
  /** Bytes read per positional read; default DEFAULT_READ_BUFFER_SIZE. */
  readBufferSize?: number;
}

/**
 * With page-aligned buffers (hash-worker.ts) 64 KiB–1 MiB all read + hashed within a few per cent
 * of each other on a 2-core EPYC VM; 128 KiB keeps the buffer and the page-cache pages it is
 * copied from inside the 512 KiB L2 cache together. `npm run bench -- hashing --buffers` re-measures.
 */
export const DEFAULT_READ_BUFFER_SIZE = 128 * 1024;

/** A batch is closed at this many tasks or bytes, whichever comes first. */
const BATCH_MAX_TASKS = 256;
const BATCH_MAX_BYTES = 4 * 1024 * 1024;
/**
 * A worker gets a second batch before finishing its first only while it holds less than this
 * many bytes of work: that hides message latency for small files, while big files stay in the
 * shared queue until some worker is free (better balance at the end of a run).
 */
const PIPELINE_BYTES = 8 * 1024 * 1024;
const MAX_BATCHES_IN_FLIGHT = 2;

interface Job {
  tasks: readonly HashTask[];
  /** Task indices, largest range first. */
  order: number[];
  next: number;
  results: Buffer[];
  remaining: number;
  settled: boolean;
  bytesDone: number;
  onProgress: ((bytesDone: number) => void) | undefined;
  resolve: (digests: Buffer[]) => void;
  reject: (err: Error) => void;
}

interface Batch {
  job: Job;
  indices: number[];
  bytes: number;
  bytesReported: number;
}

interface Slot {
  worker: Worker;
  inFlight: Map<number, Batch>;
  bytesInFlight: number;
}

function failureToError(failure: TaskFailure): AicertError {
  return failure.environment
    ? new EnvironmentError(failure.code, failure.message)
    : new InputError(failure.code, failure.message);
}

function checkTask(task: HashTask): void {
  const { start, end } = task;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new InputError('measure.bad-range', `invalid byte range [${start}, ${end}) for ${task.path}`);
  }
  if (!HASH_ALGORITHMS.includes(task.algorithm)) {
    throw new InputError('measure.bad-algorithm', `unknown hash algorithm ${String(task.algorithm)}`);
  }
}

export class HashPool {
  readonly size: number;
  readonly readBufferSize: number;
  private readonly slots: Slot[] = [];
  private readonly jobs: Job[] = [];
  private nextBatchId = 0;
  private closed = false;

  constructor(options: HashPoolOptions = {}) {
    this.size = options.workers ?? availableParallelism();
    this.readBufferSize = options.readBufferSize ?? DEFAULT_READ_BUFFER_SIZE;
    if (!Number.isSafeInteger(this.size) || this.size < 1) {
      throw new InputError('measure.bad-pool-size', `worker count must be a positive integer, got ${this.size}`);
    }
    if (!Number.isSafeInteger(this.readBufferSize) || this.readBufferSize < 4096 || this.readBufferSize % 4096 !== 0) {
      throw new InputError(
        'measure.bad-buffer-size',
        `read buffer must be a positive multiple of 4096 bytes, got ${this.readBufferSize}`,
      );
    }
    for (let i = 0; i < this.size; i++) this.slots.push(this.startWorker());
  }

  /** Digest of one byte range. */
  async hash(task: HashTask): Promise<Buffer> {
    const [digest] = await this.hashAll([task]);
    return digest!;
  }

  /**
   * Digests of all tasks, in the order given. Rejects with the first failure (an AicertError);
   * tasks of a failed call that have not started yet are dropped.
   */
  hashAll(tasks: readonly HashTask[], onProgress?: (bytesDone: number) => void): Promise<Buffer[]> {
    if (this.closed) return Promise.reject(new EnvironmentError('measure.pool-closed', 'the hash pool is closed'));
    try {
      tasks.forEach(checkTask);
    } catch (err) {
      return Promise.reject(err);
    }
    if (tasks.length === 0) return Promise.resolve([]);
    return new Promise<Buffer[]>((resolve, reject) => {
      const order = tasks.map((_, i) => i);
      const length = (i: number) => tasks[i]!.end - tasks[i]!.start;
      order.sort((a, b) => length(b) - length(a) || a - b);
      this.jobs.push({
        tasks,
        order,
        next: 0,
        results: new Array<Buffer>(tasks.length),
        remaining: tasks.length,
        settled: false,
        bytesDone: 0,
        onProgress,
        resolve,
        reject,
      });
      this.dispatch();
    });
  }

  /** Stops the workers. Pending calls reject; the pool cannot be used again. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new EnvironmentError('measure.pool-closed', 'the hash pool was closed before hashing finished');
    for (const job of this.jobs) this.fail(job, error);
    for (const slot of this.slots) for (const batch of slot.inFlight.values()) this.fail(batch.job, error);
    await Promise.all(this.slots.map((slot) => stopWorker(slot.worker)));
  }

  private startWorker(): Slot {
    const workerData: WorkerOptions = { readBufferSize: this.readBufferSize };
    // execArgv: [] — the worker needs none of the parent's flags, and some (--input-type) break it.
    const worker = new Worker(new URL('./hash-worker.js', import.meta.url), { workerData, execArgv: [] });
    const slot: Slot = { worker, inFlight: new Map(), bytesInFlight: 0 };
    worker.on('message', (reply: WorkerReply) => this.onReply(slot, reply));
    worker.on('error', (err) => this.onWorkerLost(slot, err));
    worker.on('exit', (code) => {
      if (!this.closed) this.onWorkerLost(slot, new Error(`worker exited with status ${code}`));
    });
    // An idle pool must not keep the process alive; a busy one is held by the work it owes.
    // (After the listeners: adding a 'message' listener refs the worker's port again.)
    worker.unref();
    return slot;
  }

  private onWorkerLost(slot: Slot, cause: Error): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return; // already replaced ('error' is followed by 'exit')
    const error = new EnvironmentError('measure.worker-failed', `a hashing worker stopped: ${cause.message}`, {
      cause,
    });
    for (const batch of slot.inFlight.values()) this.fail(batch.job, error);
    slot.inFlight.clear();
    void slot.worker.terminate();
    if (this.closed) return;
    this.slots[index] = this.startWorker();
    this.dispatch();
  }

  private onReply(slot: Slot, reply: WorkerReply): void {
    const batch = slot.inFlight.get(reply.batchId);
    // After close(), a late reply must not unref a worker being stopped (util/stop-worker.ts).
    if (!batch || this.closed) return;
    const { job } = batch;
    if (reply.kind === 'progress') {
      batch.bytesReported += reply.bytes;
      this.addProgress(job, reply.bytes);
      return;
    }
    slot.inFlight.delete(reply.batchId);
    slot.bytesInFlight -= batch.bytes;
    if (slot.inFlight.size === 0) slot.worker.unref();
    const [first] = reply.failures;
    if (first) this.fail(job, failureToError(first.failure));
    let offset = reply.digests.byteOffset;
    for (const index of batch.indices) {
      const size = DIGEST_SIZE[job.tasks[index]!.algorithm];
      job.results[index] = Buffer.from(reply.digests.buffer, offset, size);
      offset += size;
    }
    job.remaining -= batch.indices.length;
    this.addProgress(job, batch.bytes - batch.bytesReported);
    if (!job.settled && job.remaining === 0) {
      job.settled = true;
      job.resolve(job.results);
    }
    this.dispatch();
  }

  private addProgress(job: Job, bytes: number): void {
    if (job.settled || bytes === 0) return;
    job.bytesDone += bytes;
    job.onProgress?.(job.bytesDone);
  }

  private fail(job: Job, error: Error): void {
    if (job.settled) return;
    job.settled = true;
    job.reject(error);
  }

  /** Hands batches to workers that can take them. */
  private dispatch(): void {
    for (const slot of this.slots) {
      while (this.canTake(slot)) {
        const batch = this.takeBatch();
        if (!batch) return;
        const batchId = this.nextBatchId++;
        slot.inFlight.set(batchId, batch);
        slot.bytesInFlight += batch.bytes;
        slot.worker.ref();
        const request: BatchRequest = { batchId, tasks: batch.indices.map((i) => batch.job.tasks[i]!) };
        slot.worker.postMessage(request);
      }
    }
  }

  private canTake(slot: Slot): boolean {
    if (slot.inFlight.size === 0) return true;
    return slot.inFlight.size < MAX_BATCHES_IN_FLIGHT && slot.bytesInFlight < PIPELINE_BYTES;
  }

  /** Next batch from the oldest unfinished call; settled (failed) calls are dropped. */
  private takeBatch(): Batch | undefined {
    while (this.jobs.length > 0) {
      const job = this.jobs[0]!;
      if (job.settled || job.next === job.order.length) {
        this.jobs.shift();
        continue;
      }
      const batch: Batch = { job, indices: [], bytes: 0, bytesReported: 0 };
      while (job.next < job.order.length && batch.indices.length < BATCH_MAX_TASKS && batch.bytes < BATCH_MAX_BYTES) {
        const index = job.order[job.next++]!;
        const task = job.tasks[index]!;
        batch.indices.push(index);
        batch.bytes += task.end - task.start;
      }
      return batch;
    }
    return undefined;
  }
}
