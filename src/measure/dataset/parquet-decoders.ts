/**
 * Parquet row groups decoded in worker threads bounded in time and memory (docs/datasets.md,
 * "Parquet"). The Parquet reader (hyparquet) is pure JavaScript and a malformed page can send it
 * into a loop that never returns; in a worker, that loop can be stopped. Each worker decodes one
 * row group at a time under a deadline scaled to the row group's size (`decodeDeadlineMs`) and a
 * heap limit (`DECODER_HEAP_MB`); past either, the worker is terminated, a fresh one takes its
 * place, and the row group fails with one line naming the file and the row group.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { EnvironmentError, InputError } from '../../errors.js';
import { stopWorker } from '../../util/stop-worker.js';
import type { DecodeReply, DecodeTask } from './parquet-decode-worker.js';
import { MAX_ROW_GROUP_BYTES, type ParquetLayout, type RowGroupSpan, rowGroupMetadata } from './parquet-file.js';

/**
 * Deadline of a row group: DEADLINE_BASE_MS plus one second per DEADLINE_BYTES_PER_SECOND of its
 * size. hyparquet decodes about 47 MB/s on one core of a 2-core EPYC VM (a 79 MB row group of text
 * rows in 1.7 s), so 2 MiB/s leaves a margin of over 20× for slower machines and busy cores; the
 * base covers a tiny row group on a loaded machine. The largest row group accepted (512 MiB) gets
 * 258 s; a 1 KiB one gets 2 s.
 */
export const DEADLINE_BASE_MS = 2000;
export const DEADLINE_BYTES_PER_SECOND = 2 * 1024 * 1024;

/**
 * Heap of one decoding worker. Decoding holds every row of the row group as JavaScript values,
 * about 1.5–3× the row group's uncompressed bytes; 2 GiB covers the largest row group accepted
 * (MAX_ROW_GROUP_BYTES, 512 MiB) with room, and bounds what a malformed one can take.
 */
export const DECODER_HEAP_MB = 2048;

/** The time one row group may take to decode, from the larger of its stored and uncompressed sizes. */
export function decodeDeadlineMs(rowGroupBytes: number): number {
  const bytes = Math.min(Math.max(0, rowGroupBytes), MAX_ROW_GROUP_BYTES);
  return DEADLINE_BASE_MS + Math.ceil((bytes / DEADLINE_BYTES_PER_SECOND) * 1000);
}

export interface ParquetDecodersOptions {
  /** Worker threads at most; default: the cores Node may use. */
  workers?: number;
  heapMb?: number;
  /** The deadline of a row group of `bytes` bytes; default `decodeDeadlineMs`. */
  deadlineMs?: (bytes: number) => number;
}

/**
 * One row group to decode: the file's layout, the row group, and its bytes, the first `length`
 * bytes of `bytes` (default: all of it). `bytes` is moved to the worker; it comes back after the
 * decoding, for `readBuffer` to hand out again.
 */
export interface RowGroupJob {
  layout: ParquetLayout;
  span: RowGroupSpan;
  bytes: ArrayBuffer;
  length?: number;
  path: string;
  maxRecordBytes: number;
}

/**
 * Row-group buffers kept for reuse once their worker is done with them. Reading a row group into
 * fresh memory cost a page fault per 4 KiB (a fifth of a Parquet measurement's faults, about 0.5 s
 * of CPU for 200 MB on the 2-core VM); reused memory costs none. Bigger buffers are not kept, so
 * one huge row group does not pin its size.
 */
const MAX_SPARE_BUFFER_BYTES = 128 * 1024 * 1024;

interface Pending {
  task: DecodeTask;
  deadlineMs: number;
  resolve: (reply: DecodeReply) => void;
  reject: (err: Error) => void;
}

interface Decoder {
  worker: Worker;
  ready: boolean;
  current?: { pending: Pending; timer: NodeJS.Timeout };
}

export class ParquetDecoders {
  readonly size: number;
  private readonly heapMb: number;
  private readonly deadlineMs: (bytes: number) => number;
  private readonly decoders = new Set<Decoder>();
  private readonly queue: Pending[] = [];
  /** Row-group buffers back from the workers (at most one per worker and one more). */
  private spares: ArrayBuffer[] = [];
  private nextId = 0;
  private closed = false;

  constructor(options: ParquetDecodersOptions = {}) {
    this.size = options.workers ?? availableParallelism();
    this.heapMb = options.heapMb ?? DECODER_HEAP_MB;
    this.deadlineMs = options.deadlineMs ?? decodeDeadlineMs;
  }

  /**
   * A buffer of at least `bytes` bytes to read a row group into: one a worker gave back when one
   * is big enough, else a new one with an eighth more room (row groups of one file vary a little).
   */
  readBuffer(bytes: number): ArrayBuffer {
    const fits = this.spares.findIndex((spare) => spare.byteLength >= bytes);
    if (fits >= 0) return this.spares.splice(fits, 1)[0]!;
    return new ArrayBuffer(Math.min(MAX_ROW_GROUP_BYTES, bytes + Math.ceil(bytes / 8)));
  }

  /** The leaves (32 bytes each, in row order) of one row group. */
  async leaves(job: RowGroupJob): Promise<Buffer> {
    const reply = await this.decode(job, 'leaves');
    const leaves = (reply as { leaves: Uint8Array }).leaves;
    return Buffer.from(leaves.buffer, leaves.byteOffset, leaves.byteLength);
  }

  /** The canonical rows of one row group, in row order. */
  async records(job: RowGroupJob): Promise<string[]> {
    return ((await this.decode(job, 'records')) as { records: string[] }).records;
  }

  /** Stops every worker; row groups not yet decoded reject. */
  async close(): Promise<void> {
    this.closed = true;
    this.spares = [];
    const error = new EnvironmentError(
      'dataset.pool-closed',
      'the Parquet decoders were closed before their work ended',
    );
    for (const pending of this.queue.splice(0)) pending.reject(error);
    const stopping = [...this.decoders].map((decoder) => this.stop(decoder, error));
    await Promise.all(stopping);
  }

  private decode(job: RowGroupJob, want: DecodeTask['want']): Promise<DecodeReply> {
    if (this.closed)
      return Promise.reject(new EnvironmentError('dataset.pool-closed', 'the Parquet decoders are closed'));
    const { layout, span } = job;
    const task: DecodeTask = {
      id: this.nextId++,
      bytes: job.bytes,
      length: job.length ?? job.bytes.byteLength,
      metadata: rowGroupMetadata(layout, span),
      columns: layout.columns,
      span,
      path: job.path,
      maxRecordBytes: job.maxRecordBytes,
      want,
    };
    // The footer's integers may decode as number or bigint (and are untrusted): Number() each.
    const uncompressed = layout.metadata.row_groups[span.index]!.columns.reduce(
      (sum, chunk) => sum + Number(chunk.meta_data?.total_uncompressed_size ?? 0),
      0,
    );
    const deadlineMs = this.deadlineMs(Math.max(span.end - span.start, uncompressed));
    return new Promise<DecodeReply>((resolve, reject) => {
      this.queue.push({ task, deadlineMs, resolve, reject });
      this.dispatch();
    }).then((reply) => {
      if ('failure' in reply) throw new InputError(reply.failure.code, reply.failure.message);
      if ('crash' in reply) {
        throw new EnvironmentError('dataset.worker-failed', `a Parquet decoder failed: ${reply.crash}`);
      }
      return reply;
    });
  }

  private keepSpare(buffer: ArrayBuffer): void {
    if (buffer.byteLength > MAX_SPARE_BUFFER_BYTES) return;
    this.spares.push(buffer);
    // The smallest go first: they are the ones least likely to fit the next row group.
    if (this.spares.length > this.size + 1) {
      this.spares.sort((a, b) => b.byteLength - a.byteLength);
      this.spares.length = this.size + 1;
    }
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const idle = [...this.decoders].find((decoder) => decoder.ready && !decoder.current);
      if (!idle) {
        // Every worker the pool may have, started at the first row group: the others decode while
        // one is busy, and one takes over at once while another replaces a stopped worker.
        while (this.decoders.size < this.size) this.start();
        return;
      }
      const pending = this.queue.shift()!;
      const { task } = pending;
      const timer = setTimeout(() => this.timedOut(idle), pending.deadlineMs);
      idle.current = { pending, timer };
      idle.worker.ref();
      idle.worker.postMessage(task, [task.bytes]);
    }
  }

  private start(): void {
    // execArgv: [] — the worker needs none of the parent's flags (as in hash-pool.ts).
    const worker = new Worker(new URL('./parquet-decode-worker.js', import.meta.url), {
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb },
    });
    const decoder: Decoder = { worker, ready: false };
    this.decoders.add(decoder);
    worker.on('message', (reply: DecodeReply) => {
      // A stopped decoder's late message (its 'ready' can arrive after terminate()) must not unref
      // the worker: its exit would then not keep the process alive and terminate() never settles.
      if (!this.decoders.has(decoder)) return;
      if ('ready' in reply) {
        decoder.ready = true;
        worker.unref(); // an idle decoder must not keep the process alive
      } else {
        const current = decoder.current;
        if (!current || current.pending.task.id !== reply.id) return;
        if ('bytes' in reply && reply.bytes) this.keepSpare(reply.bytes);
        clearTimeout(current.timer);
        decoder.current = undefined;
        worker.unref();
        current.pending.resolve(reply);
      }
      this.dispatch();
    });
    worker.on('error', (err: Error & { code?: string }) => {
      const task = decoder.current?.pending.task;
      const error =
        task && err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new InputError(
              'dataset.parquet-too-large',
              `Parquet ${task.path}: row group ${task.span.index} needs more than ${this.heapMb} MB ` +
                'of memory to decode',
            )
          : new EnvironmentError('dataset.worker-failed', `a Parquet decoder stopped: ${err.message}`, { cause: err });
      void this.replace(decoder, error);
    });
    worker.on('exit', (code) => {
      const error = new EnvironmentError('dataset.worker-failed', `a Parquet decoder exited with status ${code}`);
      void this.replace(decoder, error);
    });
  }

  private timedOut(decoder: Decoder): void {
    const pending = decoder.current?.pending;
    if (!pending) return;
    const { path, span } = pending.task;
    const seconds = (pending.deadlineMs / 1000).toFixed(1);
    const error = new InputError(
      'dataset.parquet-timeout',
      `Parquet ${path}: row group ${span.index} did not decode in ${seconds} s, its deadline; the file is malformed ` +
        'or its pages decode pathologically slowly',
    );
    void this.replace(decoder, error);
  }

  /** Fails the decoder's row group with `error`, stops it, and starts another if work waits. */
  private async replace(decoder: Decoder, error: Error): Promise<void> {
    if (!this.decoders.has(decoder)) return;
    const started = decoder.ready;
    await this.stop(decoder, error);
    // One that never started says the next would not either: fail the waiting work, do not loop.
    if (!started) for (const pending of this.queue.splice(0)) pending.reject(error);
    if (this.closed) return;
    // A replacement starts at once: the next row group should not wait for its start-up. (Work that
    // arrived while the stopped worker exited may already have started one.)
    if (started && this.decoders.size < this.size) this.start();
    this.dispatch();
  }

  private async stop(decoder: Decoder, error: Error): Promise<void> {
    this.decoders.delete(decoder);
    const current = decoder.current;
    decoder.current = undefined;
    if (current) {
      clearTimeout(current.timer);
      current.pending.reject(error);
    }
    await stopWorker(decoder.worker);
  }
}

let shared: ParquetDecoders | undefined;

/** The process's decoders: created on first use; idle ones do not keep the process alive. */
export function sharedParquetDecoders(): ParquetDecoders {
  shared ??= new ParquetDecoders();
  return shared;
}
