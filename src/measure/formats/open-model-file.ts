import { closeSync, fstatSync, openSync } from 'node:fs';
import { InputError } from '../../errors.js';

export interface OpenedFile {
  fd: number;
  size: number;
}

/**
 * Opens a regular file for header parsing, runs `parse` with its descriptor and size, and always
 * closes it. Error codes are prefixed with the format name (`safetensors.unreadable`, ...).
 */
export function withModelFile<T>(path: string, format: string, parse: (file: OpenedFile) => T): T {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT') throw new InputError(`${format}.missing-file`, `${path} does not exist`);
    throw new InputError(`${format}.unreadable`, `cannot open ${path}: ${errno ?? (err as Error).message}`, {
      cause: err,
    });
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new InputError(`${format}.not-a-file`, `${path} is not a regular file`);
    return parse({ fd, size: stats.size });
  } finally {
    closeSync(fd);
  }
}
