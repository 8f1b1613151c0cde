import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { FileVersion } from '../file-version.js';
import { commitmentOfRoots, type DatasetCommitment } from './dataset-tree.js';
import { recordRootsOf, type RecordRootsTuning } from './parallel-record-roots.js';
import { parquetRootsOf } from './parquet-roots.js';
import { webdatasetRootsOf } from './webdataset-roots.js';
import type { RecordFormat } from './record-format.js';
import type { RecordPool } from './record-pool.js';
import { openRecordFile } from './records.js';

/**
 * A record file's manifest digest and its record trees, from the same bytes. Hashing the file
 * and then reopening it by path to split its records let a rename between the two reads certify
 * one file's digest with another file's record roots (issue 16, item 2). Here both come from one
 * read of one open descriptor: each chunk read goes to the SHA-256 and then, cut into pieces, to
 * the record workers (parallel-record-roots.ts), so the roots describe exactly the bytes the
 * digest names. Nothing reopens the file by path.
 */
export interface MeasuredRecordFile {
  /** SHA-256 of every byte read, as the OMS manifest rules name the file (lowercase hex). */
  sha256: string;
  /** Bytes read: the file's size. */
  size: number;
  /** The file that was read, from its descriptor (the same before the first read and after the last). */
  version: FileVersion;
  /** Roots and counts of the record trees. */
  commitment: DatasetCommitment;
}

export interface RecordFileMeasureOptions {
  format: RecordFormat;
  maxRecordBytes?: number;
  /** The version the file had when it was listed; another one is `dataset.changed`. */
  expectedVersion?: FileVersion;
  /** Record workers to share (several files at once); one of its own otherwise. */
  pool?: RecordPool;
  tuning?: RecordRootsTuning;
}

/** Measures the file open as `handle` (named `path` in errors). It opens nothing. */
export async function measureOpenRecordFile(
  handle: FileHandle,
  path: string,
  options: RecordFileMeasureOptions,
): Promise<MeasuredRecordFile> {
  const hash = createHash('sha256');
  let size = 0;
  const onBytes = (chunk: Buffer) => {
    hash.update(chunk);
    size += chunk.length;
  };
  // A Parquet file is read whole for the digest first, then by row group, through this descriptor.
  const roots =
    options.format === 'parquet'
      ? await parquetRootsOf(handle, path, { ...options, onBytes })
      : options.format === 'webdataset'
        ? await webdatasetRootsOf(handle, path, { ...options, onBytes })
        : await recordRootsOf(handle, path, { ...options, onBytes });
  return { sha256: hash.digest('hex'), size, version: roots.version, commitment: commitmentOfRoots(roots) };
}

/** Opens `path` once and measures it through that one descriptor. */
export async function measureRecordFile(path: string, options: RecordFileMeasureOptions): Promise<MeasuredRecordFile> {
  const handle = await openRecordFile(path);
  try {
    return await measureOpenRecordFile(handle, path, options);
  } finally {
    await handle.close();
  }
}
