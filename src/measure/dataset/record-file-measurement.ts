import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { FileVersion } from '../file-version.js';
import { buildDatasetTreesOf, type DatasetTrees } from './dataset-tree.js';
import type { RecordFormat } from './record-format.js';
import { openRecordFile } from './records.js';

/**
 * A record file's manifest digest and its record trees, from the same bytes. Hashing the file
 * and then reopening it by path to split its records let a rename between the two reads certify
 * one file's digest with another file's record roots (issue 16, item 2). Here both come from one
 * read of one open descriptor: each chunk read goes to the SHA-256 and to the record splitter,
 * so the roots describe exactly the bytes the digest names.
 */
export interface MeasuredRecordFile {
  /** SHA-256 of every byte read, as the OMS manifest rules name the file (lowercase hex). */
  sha256: string;
  /** Bytes read: the file's size. */
  size: number;
  /** The file that was read, from its descriptor (the same before the first read and after the last). */
  version: FileVersion;
  trees: DatasetTrees;
}

export interface RecordFileMeasureOptions {
  format: RecordFormat;
  maxRecordBytes?: number;
  /** The version the file had when it was listed; another one is `dataset.changed`. */
  expectedVersion?: FileVersion;
}

/** Measures the file open as `handle` (named `path` in errors and in the trees). It opens nothing. */
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
  const { format, ...read } = options;
  const { trees, version } = await buildDatasetTreesOf(handle, path, format, { ...read, onBytes });
  return { sha256: hash.digest('hex'), size, version, trees };
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
