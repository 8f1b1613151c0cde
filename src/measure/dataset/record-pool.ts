/**
 * A pool of worker threads (record-worker.ts) for building record trees in parallel
 * (parallel-record-roots.ts). Tasks go to the workers in the order given, at most two at a time
 * per worker, so that a worker has its next task in hand when it finishes one.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { EnvironmentError, InputError } from '../../errors.js';
import type { RecordTask, RecordTaskResult, RecordWorkerReply } from './record-worker.js';
import { stopWorker } from '../../util/stop-worker.js';

const TASKS_IN_FLIGHT_PER_WORKER = 2;

interface Pending {
  id: number;
  task: RecordTask;
  transfer: ArrayBuffer[];
  resolve: (result: RecordTaskResult) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  inFlight: Map<number, Pending>;
}

export class RecordPool {
  readonly size: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 0;
  private closed = false;

  constructor(options: { workers?: number } = {}) {
    this.size = options.workers ?? availableParallelism();
    if (!Number.isSafeInteger(this.size) || this.size < 1) {
      throw new InputError('dataset.bad-pool-size', `worker count must be a positive integer, got ${this.size}`);
    }
    for (let i = 0; i < this.size; i++) this.slots.push(this.startWorker());
  }

  /** Runs one task; the buffers in `transfer` move to the worker (they are unusable here afterwards). */
  run<K extends RecordTask['kind']>(
    task: Extract<RecordTask, { kind: K }>,
    transfer: ArrayBuffer[] = [],
  ): Promise<Extract<RecordTaskResult, { kind: K }>> {
    if (this.closed) return Promise.reject(new EnvironmentError('dataset.pool-closed', 'the record pool is closed'));
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        id: this.nextId++,
        task,
        transfer,
        resolve: resolve as (result: RecordTaskResult) => void,
        reject,
      };
      this.queue.push(pending);
      this.dispatch();
    });
  }

  /** Stops the workers; unfinished tasks reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new EnvironmentError('dataset.pool-closed', 'the record pool was closed before its work finished');
    for (const pending of this.queue.splice(0)) pending.reject(error);
    for (const slot of this.slots) for (const pending of slot.inFlight.values()) pending.reject(error);
    await Promise.all(this.slots.map((slot) => stopWorker(slot.worker)));
  }

  private startWorker(): Slot {
    // execArgv: [] — the worker needs none of the parent's flags (as in hash-pool.ts).
    const worker = new Worker(new URL('./record-worker.js', import.meta.url), { execArgv: [] });
    const slot: Slot = { worker, inFlight: new Map() };
    worker.on('message', (reply: RecordWorkerReply) => this.onReply(slot, reply));
    worker.on('error', (err) => this.onWorkerLost(slot, err));
    worker.on('exit', (code) => {
      if (!this.closed) this.onWorkerLost(slot, new Error(`worker exited with status ${code}`));
    });
    worker.unref(); // an idle pool must not keep the process alive
    return slot;
  }

  private onReply(slot: Slot, reply: RecordWorkerReply): void {
    const pending = slot.inFlight.get(reply.id);
    // After close(), a late reply must not unref a worker being stopped (util/stop-worker.ts).
    if (!pending || this.closed) return;
    slot.inFlight.delete(reply.id);
    if (slot.inFlight.size === 0) slot.worker.unref();
    if (reply.ok) pending.resolve(reply.result);
    else pending.reject(new EnvironmentError('dataset.worker-failed', `a record worker failed: ${reply.message}`));
    this.dispatch();
  }

  private onWorkerLost(slot: Slot, cause: Error): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return;
    const error = new EnvironmentError('dataset.worker-failed', `a record worker stopped: ${cause.message}`, {
      cause,
    });
    for (const pending of slot.inFlight.values()) pending.reject(error);
    slot.inFlight.clear();
    void slot.worker.terminate();
    if (this.closed) return;
    this.slots[index] = this.startWorker();
    this.dispatch();
  }

  private dispatch(): void {
    for (;;) {
      if (this.queue.length === 0) return;
      // The least busy worker takes the next task.
      let best: Slot | undefined;
      for (const slot of this.slots) {
        if (slot.inFlight.size >= TASKS_IN_FLIGHT_PER_WORKER) continue;
        if (!best || slot.inFlight.size < best.inFlight.size) best = slot;
      }
      if (!best) return;
      const pending = this.queue.shift()!;
      best.inFlight.set(pending.id, pending);
      best.worker.ref();
      best.worker.postMessage({ id: pending.id, task: pending.task }, pending.transfer);
    }
  }
}
