/**
 * Lists the regular files of a model (a directory or one file) by the OMS v1.0 enumeration rules
 * (spec §6.1–6.2): relative POSIX names, exact-path ignores, UTF-8 names only, and symbolic links
 * refused unless allowed, in which case they are followed but may never lead outside the root.
 */
import { lstatSync, type Stats } from 'node:fs';
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { isInside } from '../util/path-inside.js';
import { fileVersionOf, type FileVersion } from './file-version.js';

/**
 * One listed file, with its version when listed (size, times, inode) so that the hash pool can
 * tell that it changed or was replaced since.
 */
export interface FileRecord extends FileVersion {
  /** Name in the manifest: POSIX path relative to the root, or '.' when the model is one file. */
  name: string;
  /** Path to open (a symlink's target when links are followed). */
  path: string;
}

export interface WalkOptions {
  /** Exact relative POSIX paths to leave out, each with its subtree. */
  ignore: ReadonlySet<string>;
  allowSymlinks: boolean;
}

/**
 * Entries are lstat'ed synchronously (one call gives type, size, times and inode), and after this
 * many the event loop gets a turn. For 100,000 files that takes half the CPU and a fraction of the
 * memory of readdir-with-types plus one promise per stat.
 */
const STATS_PER_TURN = 256;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function symlinkRefused(path: string): InputError {
  return new InputError(
    'measure.symlink',
    `${path} is a symbolic link; symbolic links are refused unless --allow-symlinks is given ` +
      '(then they are followed, but must stay inside the measured directory)',
  );
}

function fsError(err: unknown, path: string, doing: string): InputError {
  const errno = (err as NodeJS.ErrnoException).code;
  if (errno === 'ENOENT') return new InputError('measure.not-found', `${path} does not exist`);
  if (errno === 'EACCES' || errno === 'EPERM') {
    return new InputError('measure.unreadable', `cannot ${doing} ${path}: permission denied`);
  }
  if (errno === 'ELOOP') return new InputError('measure.symlink-cycle', `${path}: too many levels of symbolic links`);
  return new InputError('measure.unreadable', `cannot ${doing} ${path}: ${(err as Error).message}`);
}

function notRegular(path: string): InputError {
  return new InputError(
    'measure.not-regular-file',
    `${path} is neither a regular file nor a directory (a device, socket or pipe cannot be measured)`,
  );
}

function toRecord(name: string, path: string, stats: Stats): FileRecord {
  return { name, path, ...fileVersionOf(stats) };
}

/**
 * Files of the model at `path`, in no particular order. A single file gives one record named '.'
 * (as the reference tool names it) and ignores do not apply to it.
 */
export async function listModelFiles(path: string, options: WalkOptions): Promise<FileRecord[]> {
  const rootStats = await lstat(path).catch((err: unknown) => {
    throw fsError(err, path, 'read');
  });
  if (rootStats.isSymbolicLink() && !options.allowSymlinks) throw symlinkRefused(path);
  const realRoot = await realpath(path).catch((err: unknown) => {
    throw fsError(err, path, 'resolve');
  });
  const target = rootStats.isSymbolicLink() ? await stat(realRoot) : rootStats;
  if (target.isFile()) return [toRecord('.', realRoot, target)];
  if (!target.isDirectory()) throw notRegular(path);
  const walker = new Walker(realRoot, options);
  await walker.walkDirectory(realRoot, '', [realRoot]);
  return walker.records;
}

/**
 * Files named by `names` (relative POSIX paths under `root`, e.g. from `git ls-files`), under the
 * same rules as a walk; a name that is a directory contributes the files beneath it.
 */
export async function listNamedFiles(
  root: string,
  names: readonly string[],
  options: WalkOptions,
): Promise<FileRecord[]> {
  const realRoot = await realpath(root).catch((err: unknown) => {
    throw fsError(err, root, 'resolve');
  });
  const walker = new Walker(realRoot, options);
  for (const name of names) {
    if (!walker.ignored(name)) await walker.visit(join(realRoot, ...name.split('/')), name, [realRoot]);
  }
  return walker.records;
}

class Walker {
  readonly records: FileRecord[] = [];
  private statsSinceTurn = 0;

  constructor(
    private readonly root: string,
    private readonly options: WalkOptions,
  ) {}

  ignored(name: string): boolean {
    return this.options.ignore.has(name);
  }

  /** Walks the directory at real path `path`, named `prefix`; `ancestors` are the real paths down to it. */
  async walkDirectory(path: string, prefix: string, ancestors: readonly string[]): Promise<void> {
    let names: string[];
    try {
      names = await readdir(path);
    } catch (err) {
      throw fsError(err, path, 'list directory');
    }
    // Node decodes a name that is not UTF-8 with U+FFFD replacement characters.
    if (names.some((name) => name.includes('\ufffd'))) await checkUtf8Names(path);
    for (const base of names) {
      const name = prefix === '' ? base : `${prefix}/${base}`;
      if (!this.ignored(name)) await this.visit(join(path, base), name, ancestors);
    }
  }

  /** Records the file at `path`, or descends into the directory or link there. Vanished entries are skipped. */
  async visit(path: string, name: string, ancestors: readonly string[]): Promise<void> {
    if (++this.statsSinceTurn === STATS_PER_TURN) {
      this.statsSinceTurn = 0;
      await nextTurn();
    }
    let stats: Stats | undefined;
    try {
      stats = lstatSync(path, { throwIfNoEntry: false });
    } catch (err) {
      throw fsError(err, path, 'read');
    }
    if (stats === undefined) return;
    if (stats.isFile()) {
      this.records.push(toRecord(name, path, stats));
    } else if (stats.isDirectory()) {
      // Walks descend from real paths through real directories only, so `path` is real too.
      await this.walkDirectory(path, name, [...ancestors, path]);
    } else if (stats.isSymbolicLink()) {
      await this.followLink(path, name, ancestors);
    } else {
      throw notRegular(path);
    }
  }

  private async followLink(path: string, name: string, ancestors: readonly string[]): Promise<void> {
    if (!this.options.allowSymlinks) throw symlinkRefused(path);
    let target: string;
    try {
      target = await realpath(path);
    } catch (err) {
      const errno = (err as NodeJS.ErrnoException).code;
      if (errno === 'ENOENT') throw new InputError('measure.symlink-broken', `${path} is a symbolic link to nothing`);
      throw fsError(err, path, 'resolve');
    }
    if (!isInside(this.root, target)) {
      throw new InputError(
        'measure.symlink-escape',
        `${path} is a symbolic link that leads outside the measured directory (to ${target}); refused`,
      );
    }
    const stats = await stat(target).catch((err: unknown) => {
      throw fsError(err, target, 'read');
    });
    if (stats.isFile()) {
      this.records.push(toRecord(name, target, stats));
    } else if (stats.isDirectory()) {
      if (ancestors.some((dir) => isInside(target, dir))) {
        throw new InputError('measure.symlink-cycle', `${path} is a symbolic link to its own ancestor ${target}`);
      }
      await this.walkDirectory(target, name, [...ancestors, target]);
    } else {
      throw notRegular(path);
    }
  }
}

/** Throws measure.bad-filename if a name in directory `path` is not valid UTF-8. */
async function checkUtf8Names(path: string): Promise<void> {
  for (const name of await readdir(path, { encoding: 'buffer' })) {
    try {
      utf8.decode(name);
    } catch {
      throw new InputError(
        'measure.bad-filename',
        `a file name in ${path} is not valid UTF-8 (${name.toString('hex')} in hex); OMS manifests need UTF-8 names`,
      );
    }
  }
}
