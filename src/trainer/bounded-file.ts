import { readFile, stat } from 'node:fs/promises';
import { InputError } from '../errors.js';

/** Reads a whole file that must not exceed `limit` bytes, checked before reading; errors carry `code`. */
export async function readBoundedFile(path: string, limit: number, code: string): Promise<Buffer> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    throw new InputError(code, errno === 'ENOENT' ? `${path} does not exist` : `cannot read ${path}: ${errno}`);
  }
  if (size > limit) throw new InputError(code, `${path} is ${size} bytes, more than the ${limit}-byte limit`);
  const bytes = await readFile(path);
  if (bytes.length > limit) throw new InputError(code, `${path} grew past the ${limit}-byte limit while it was read`);
  return bytes;
}
