import { readFile, stat } from 'node:fs/promises';
import { InputError } from '../errors.js';

/**
 * Reads a whole regular file of at most `maxBytes`: the size is checked before reading (so a
 * huge file is never loaded) and again after (a file that grew meanwhile is refused).
 * Errors are InputErrors with code `file.unreadable` / `file.too-large`, or `code` when the
 * caller's format has its own.
 */
export async function readBoundedFile(path: string, maxBytes: number, what: string, code?: string): Promise<Buffer> {
  const unreadable = (why: string) => new InputError(code ?? 'file.unreadable', `cannot read ${what} ${path}: ${why}`);
  const tooLarge = (size: string) =>
    new InputError(code ?? 'file.too-large', `${what} ${path} is ${size}, over the ${maxBytes}-byte limit`);
  const stats = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw unreadable(err.code === 'ENOENT' ? 'no such file (it does not exist)' : err.message);
  });
  if (!stats.isFile()) throw unreadable('not a regular file');
  if (stats.size > maxBytes) throw tooLarge(`${stats.size} bytes`);
  const bytes = await readFile(path).catch((err: Error) => {
    throw unreadable(err.message);
  });
  if (bytes.length > maxBytes) throw tooLarge('larger now: it grew while it was read');
  return bytes;
}
