import type { FileHandle } from 'node:fs/promises';
import { InputError } from '../../errors.js';
import { fileVersionOf } from '../file-version.js';
import { checkReadWhole, versionBeforeRead } from './record-file-version.js';
import { leafSinkFor } from './leaf-trees.js';
import type { LeavesOnly, RecordLeavesRead, RecordRoots, RecordRootsOptions } from './parallel-record-roots.js';
import { type ParquetDecoders, sharedParquetDecoders } from './parquet-decoders.js';
import { readParquetLayout, readSpan, type ParquetLayout, type RowGroupSpan } from './parquet-file.js';
import { RecordPool } from './record-pool.js';
import { DEFAULT_MAX_RECORD_BYTES } from './records.js';

const DIGEST_READ_BYTES = 4 * 1024 * 1024;

type FileOptions = Omit<RecordRootsOptions, 'format'>;

/**
 * Both record trees of the Parquet file open as `handle` (named `path` in errors): its rows'
 * canonical encodings (canonical-row.ts) in file order. The main thread reads one row group's bytes
 * at a time through this descriptor and a Parquet decoder (parquet-decoders.ts: a worker bounded in
 * time and memory) decodes it and hashes its leaves; row groups are collected in file order into
 * the trees (leaf-trees.ts), so the roots are those of a serial read. With `onBytes` the whole file
 * is first read in order for its digest; the file must be the same (inode, size, mtime, ctime)
 * before the first read and after the last. With `leavesOnly`, the leaves alone (parallel-record-roots.ts).
 */
export async function parquetRootsOf(
  handle: FileHandle,
  path: string,
  options: LeavesOnly<FileOptions>,
  decoders?: ParquetDecoders,
): Promise<RecordLeavesRead>;
export async function parquetRootsOf(
  handle: FileHandle,
  path: string,
  options: FileOptions,
  decoders?: ParquetDecoders,
): Promise<RecordRoots>;
export async function parquetRootsOf(
  handle: FileHandle,
  path: string,
  options: FileOptions | LeavesOnly<FileOptions>,
  decoders: ParquetDecoders = sharedParquetDecoders(),
): Promise<RecordRoots | RecordLeavesRead> {
  const pool = options.pool ?? new RecordPool();
  const trees = leafSinkFor(pool, options);
  try {
    const before = await versionBeforeRead(handle, path, options.expectedVersion);
    if (options.onBytes) await readInOrder(handle, before.size, options.onBytes);
    const layout = await readParquetLayout(handle, path, before.size);
    const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    const inFlight: Array<Promise<Buffer>> = [];
    const collect = async () => {
      const leaves = await inFlight.shift()!;
      await trees.push(leaves);
      await options.onLeaves?.(leaves);
    };
    try {
      for (const span of layout.rowGroups) {
        const { bytes, length } = await readRowGroup(handle, span, decoders);
        const task = decoders.leaves({ layout, span, bytes, length, path, maxRecordBytes });
        task.catch(() => undefined); // collected in order
        inFlight.push(task);
        while (inFlight.length > pool.size) await collect();
      }
      while (inFlight.length > 0) await collect();
    } finally {
      await Promise.allSettled(inFlight);
    }
    await checkReadWhole(handle, path, before);
    return { format: 'parquet', ...(await trees.finish()), version: fileVersionOf(before) };
  } finally {
    await trees.dispose();
    if (!options.pool) await pool.close();
  }
}

/**
 * The canonical rows of the Parquet file open as `handle`, in file order, decoded one row group at
 * a time by a Parquet decoder (bounded in time and memory).
 */
export async function forEachParquetRecord(
  handle: FileHandle,
  path: string,
  onRecord: (record: string) => void,
  maxRecordBytes = DEFAULT_MAX_RECORD_BYTES,
  decoders: ParquetDecoders = sharedParquetDecoders(),
): Promise<ParquetLayout> {
  const { size } = await handle.stat();
  const layout = await readParquetLayout(handle, path, size);
  for (const span of layout.rowGroups) {
    const { bytes, length } = await readRowGroup(handle, span, decoders);
    const records = await decoders.records({ layout, span, bytes, length, path, maxRecordBytes });
    for (const record of records) onRecord(record);
  }
  return layout;
}

/** The row group's bytes, read into the start of a buffer the decoders hand out (and take back). */
async function readRowGroup(
  handle: FileHandle,
  span: RowGroupSpan,
  decoders: ParquetDecoders,
): Promise<{ bytes: ArrayBuffer; length: number }> {
  const bytes = decoders.readBuffer(span.end - span.start);
  await readSpan(handle, span, new Uint8Array(bytes));
  return { bytes, length: span.end - span.start };
}

async function readInOrder(handle: FileHandle, size: number, onBytes: (chunk: Buffer) => void): Promise<void> {
  const chunk = Buffer.allocUnsafe(DIGEST_READ_BYTES);
  let position = 0;
  for (;;) {
    const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
    if (bytesRead === 0) break;
    onBytes(chunk.subarray(0, bytesRead));
    position += bytesRead;
  }
  if (position !== size) throw new InputError('dataset.changed', 'the Parquet file changed while it was read');
}
