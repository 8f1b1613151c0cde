import { realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { InputError } from '../../errors.js';

/**
 * Where a signature lives relative to its model, and how command-line paths become the
 * model-relative ignore paths that measurement takes.
 */

/** `<MODEL>/model.sig` for a directory (the layout of the reference tool's test models), `<MODEL>.sig` for a file. */
export async function defaultSignaturePath(modelPath: string): Promise<string> {
  const stats = await stat(modelPath).catch(() => undefined);
  return stats?.isDirectory() ? resolve(modelPath, 'model.sig') : `${resolve(modelPath)}.sig`;
}

/** The model root with links resolved; ignore paths and the signature are located against it. */
async function realModelRoot(modelPath: string): Promise<string> {
  try {
    return await realpath(modelPath);
  } catch {
    throw new InputError('oms.model-not-found', `the model ${modelPath} does not exist`);
  }
}

/** `path` relative to `root` in POSIX form, or undefined when it is not strictly inside. */
function insideRoot(root: string, path: string): string | undefined {
  const rel = relative(root, path);
  if (rel === '' || isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`)) return undefined;
  return rel.split(sep).join('/');
}

/** A path as given on the command line (relative to the working directory), with its parent's links resolved. */
async function realPathOf(path: string): Promise<string> {
  const absolute = resolve(path);
  const parent = await realpath(dirname(absolute)).catch(() => dirname(absolute));
  return resolve(parent, basename(absolute));
}

/**
 * The signature file's path inside the model, which measurement must leave out (spec §6.2),
 * or undefined when the signature is outside the model (always so for single-file models).
 */
export async function signatureIgnorePath(modelPath: string, signaturePath: string): Promise<string | undefined> {
  return insideRoot(await realModelRoot(modelPath), await realPathOf(signaturePath));
}

/**
 * Command-line ignore paths are relative to the working directory (as with the reference tool:
 * `--ignore-paths my-model/cache`); they become model-relative. A path outside the model is
 * refused rather than silently dropped, since it can only be a mistake.
 */
export async function modelRelativeIgnorePaths(modelPath: string, paths: readonly string[]): Promise<string[]> {
  const root = await realModelRoot(modelPath);
  return Promise.all(
    paths.map(async (path) => {
      const rel = insideRoot(root, await realPathOf(path));
      if (rel === undefined) {
        throw new InputError(
          'oms.ignore-path-outside',
          `--ignore-paths ${path} is not inside the model ${modelPath}; give paths relative to the current directory, ` +
            `e.g. ${modelPath}/${basename(path)}`,
        );
      }
      return rel;
    }),
  );
}
