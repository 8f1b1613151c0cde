import type { Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { InputError } from '../../errors.js';
import { sameFileVersion, type FileVersion } from '../file-version.js';

/**
 * The record file open as `handle` (named `path` in errors) as a read of it starts: a regular
 * file and, when the caller listed it first, still the version it listed (`expected`). Every
 * record reader (line formats, Parquet, WebDataset) begins here and ends with `checkReadWhole`,
 * so its roots are those of one version of one file.
 */
export async function versionBeforeRead(handle: FileHandle, path: string, expected?: FileVersion): Promise<Stats> {
  const before = await handle.stat();
  if (!before.isFile()) throw new InputError('dataset.not-a-file', `dataset ${path} is not a regular file`);
  if (expected && !sameFileVersion(before, expected)) throw datasetChanged(path);
  return before;
}

/**
 * After the read: the file is still the version it was before (ctime and the inode as well as
 * size and mtime: see file-version.ts) and, for a reader that reads it in order, `bytesRead`
 * reached its end. A reader that reads parts of the file by offset (Parquet) passes no count.
 */
export async function checkReadWhole(
  handle: FileHandle,
  path: string,
  before: FileVersion,
  bytesRead?: number,
): Promise<void> {
  const after = await handle.stat();
  if (!sameFileVersion(before, after) || (bytesRead !== undefined && bytesRead !== before.size)) {
    throw datasetChanged(path);
  }
}

function datasetChanged(path: string): InputError {
  return new InputError('dataset.changed', `dataset ${path} changed while it was read; measure it again`);
}
