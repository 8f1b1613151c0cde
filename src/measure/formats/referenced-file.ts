import { realpathSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { InputError } from '../../errors.js';

export interface ReferencedFile {
  /** The reference as written in the model (a relative POSIX path). */
  name: string;
  /** Real path to open. */
  path: string;
  size: number;
}

/**
 * Resolves a file name that a model file names (a shard in a safetensors index, an ONNX external
 * data location) inside the model's directory, refusing anything that could reach outside it:
 * absolute paths, backslashes, empty, `.` or `..` components, NUL; and symbolic links anywhere on
 * the way unless `allowSymlinks`, in which case the real path must still be inside the directory.
 * `plainName` demands a bare file name (no directories), as safetensors indexes use.
 */
export function resolveReferencedFile(
  directory: string,
  reference: string,
  options: { format: string; allowSymlinks: boolean; plainName: boolean },
): ReferencedFile {
  const { format } = options;
  const components = reference.split('/');
  const unsafe =
    reference.length === 0 ||
    reference.includes('\\') ||
    reference.includes('\0') ||
    /^[A-Za-z]:/.test(reference) ||
    components.some((part) => part === '' || part === '.' || part === '..') ||
    (options.plainName && components.length !== 1);
  if (unsafe) {
    throw new InputError(
      `${format}.path-escape`,
      `the model refers to "${reference}", which is not a ${options.plainName ? 'plain file name' : 'relative path'} ` +
        'inside the model directory; refused',
    );
  }
  const realDirectory = realpathSync(directory);
  const lexical = join(realDirectory, ...components);
  let real: string;
  try {
    real = realpathSync(lexical);
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT' || errno === 'ENOTDIR') {
      throw new InputError(
        `${format}.missing-file`,
        `the model refers to "${reference}", which does not exist in ${directory}`,
      );
    }
    throw new InputError(`${format}.unreadable`, `cannot resolve "${reference}" in ${directory}: ${errno}`, {
      cause: err,
    });
  }
  // The real path differs from the lexical one exactly when a symbolic link lies on the way.
  if (real !== lexical) {
    if (!real.startsWith(realDirectory + sep)) {
      throw new InputError(
        `${format}.path-escape`,
        `"${reference}" in ${directory} leads outside the model directory (to ${real}); refused`,
      );
    }
    if (!options.allowSymlinks) {
      throw new InputError(
        `${format}.symlink`,
        `"${reference}" in ${directory} goes through a symbolic link; refused unless --allow-symlinks is given`,
      );
    }
  }
  const stats = statSync(real);
  if (!stats.isFile()) {
    throw new InputError(`${format}.not-a-file`, `"${reference}" in ${directory} is not a regular file`);
  }
  return { name: reference, path: real, size: stats.size };
}
