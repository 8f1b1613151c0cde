/**
 * Lists the regular files of a model (a directory or one file) by the OMS v1.0 enumeration rules
 * (spec §6.1–6.2): relative POSIX names, exact-path ignores, UTF-8 names only, and symbolic links
 * refused unless allowed, in which case they are followed but may never lead outside the root.
 */
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import type { BigIntStats, Dirent } from 'node:fs';
import { join, sep } from 'node:path';
import { InputError } from '../errors.js';

export interface FileRecord {
  /** Name in the manifest: POSIX path relative to the root, or '.' when the model is one file. */
  name: string;
  /** Path to open (a symlink's target when links are followed). */
  path: string;
  size: number;
  mtimeNs: bigint;
}

export interface WalkOptions {
  /** Exact relative POSIX paths to leave out, each with its subtree. */
  ignore: ReadonlySet<string>;
  allowSymlinks: boolean;
}

/** Files are stat'ed this many at a time: enough to keep libuv's threads busy, bounded memory. */
const STAT_CONCURRENCY = 64;

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

function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

function toRecord(name: string, path: string, stats: BigIntStats): FileRecord {
  return { name, path, size: Number(stats.size), mtimeNs: stats.mtimeNs };
}

/**
 * Files of the model at `path`, in no particular order. A single file gives one record named '.'
 * (as the reference tool names it) and ignores do not apply to it.
 */
export async function listModelFiles(path: string, options: WalkOptions): Promise<FileRecord[]> {
  const walker = new Walker(options);
  const rootStats = await lstat(path, { bigint: true }).catch((err: unknown) => {
    throw fsError(err, path, 'read');
  });
  if (rootStats.isSymbolicLink() && !options.allowSymlinks) throw symlinkRefused(path);
  const realRoot = await realpath(path).catch((err: unknown) => {
    throw fsError(err, path, 'resolve');
  });
  const target = rootStats.isSymbolicLink() ? await stat(realRoot, { bigint: true }) : rootStats;
  if (target.isFile()) return [toRecord('.', realRoot, target)];
  if (!target.isDirectory()) throw notRegular(path);
  await walker.walkDirectory(realRoot, realRoot, '', [realRoot]);
  return walker.finish();
}

/**
 * Files named by `names` (relative POSIX paths under `root`, e.g. from `git ls-files`), under the
 * same rules as a walk; a name that is a directory contributes the files beneath it; names that
 * no longer exist are skipped.
 */
export async function listNamedFiles(root: string, names: readonly string[], options: WalkOptions): Promise<FileRecord[]> {
  const walker = new Walker(options);
  const realRoot = await realpath(root).catch((err: unknown) => {
    throw fsError(err, root, 'resolve');
  });
  for (const name of names) {
    if (walker.ignored(name)) continue;
    await walker.visit(realRoot, join(realRoot, ...name.split('/')), name, [realRoot], null, { skipMissing: true });
  }
  return walker.finish();
}

class Walker {
  private readonly files: Array<{ name: string; path: string }> = [];

  constructor(private readonly options: WalkOptions) {}

  ignored(name: string): boolean {
    return this.options.ignore.has(name);
  }

  /** Walks the directory at real path `path`, named `prefix`; `ancestors` are the real paths above it. */
  async walkDirectory(root: string, path: string, prefix: string, ancestors: readonly string[]): Promise<void> {
    let entries: Dirent<Buffer>[];
    try {
      entries = await readdir(path, { withFileTypes: true, encoding: 'buffer' });
    } catch (err) {
      throw fsError(err, path, 'list directory');
    }
    for (const entry of entries) {
      let base: string;
      try {
        base = utf8.decode(entry.name);
      } catch {
        throw new InputError(
          'measure.bad-filename',
          `a file name in ${path} is not valid UTF-8 (${entry.name.toString('hex')} in hex); OMS manifests need UTF-8 names`,
        );
      }
      const name = prefix === '' ? base : `${prefix}/${base}`;
      if (this.ignored(name)) continue;
      await this.visit(root, join(path, base), name, ancestors, entry, { skipMissing: false });
    }
  }

  async visit(
    root: string,
    path: string,
    name: string,
    ancestors: readonly string[],
    entry: Dirent<Buffer> | null,
    { skipMissing }: { skipMissing: boolean },
  ): Promise<void> {
    let kind: 'file' | 'directory' | 'symlink' | 'other';
    if (entry && (entry.isFile() || entry.isDirectory() || entry.isSymbolicLink())) {
      kind = entry.isFile() ? 'file' : entry.isDirectory() ? 'directory' : 'symlink';
    } else {
      // No dirent, or a file system that does not report types in directory listings.
      let stats: BigIntStats;
      try {
        stats = await lstat(path, { bigint: true });
      } catch (err) {
        if (skipMissing && (err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw fsError(err, path, 'read');
      }
      kind = stats.isFile() ? 'file' : stats.isDirectory() ? 'directory' : stats.isSymbolicLink() ? 'symlink' : 'other';
    }
    if (kind === 'file') {
      this.files.push({ name, path });
    } else if (kind === 'directory') {
      // Walks descend from real paths through real directories only, so `path` is real too.
      await this.walkDirectory(root, path, name, [...ancestors, path]);
    } else if (kind === 'symlink') {
      await this.followLink(root, path, name, ancestors);
    } else {
      throw notRegular(path);
    }
  }

  private async followLink(root: string, path: string, name: string, ancestors: readonly string[]): Promise<void> {
    if (!this.options.allowSymlinks) throw symlinkRefused(path);
    let target: string;
    try {
      target = await realpath(path);
    } catch (err) {
      const errno = (err as NodeJS.ErrnoException).code;
      if (errno === 'ENOENT') throw new InputError('measure.symlink-broken', `${path} is a symbolic link to nothing`);
      throw fsError(err, path, 'resolve');
    }
    if (!isInside(root, target)) {
      throw new InputError(
        'measure.symlink-escape',
        `${path} is a symbolic link that leads outside the measured directory (to ${target}); refused`,
      );
    }
    const stats = await stat(target, { bigint: true }).catch((err: unknown) => {
      throw fsError(err, target, 'read');
    });
    if (stats.isFile()) {
      this.files.push({ name, path: target });
    } else if (stats.isDirectory()) {
      if (ancestors.some((dir) => isInside(target, dir))) {
        throw new InputError('measure.symlink-cycle', `${path} is a symbolic link to its own ancestor ${target}`);
      }
      await this.walkDirectory(root, target, name, [...ancestors, target]);
    } else {
      throw notRegular(path);
    }
  }

  /** Stats every listed file (a few at a time) for its size and modification time. */
  async finish(): Promise<FileRecord[]> {
    const records: FileRecord[] = new Array<FileRecord>(this.files.length);
    let next = 0;
    const statNext = async (): Promise<void> => {
      while (next < this.files.length) {
        const index = next++;
        const { name, path } = this.files[index]!;
        const stats = await stat(path, { bigint: true }).catch((err: unknown) => {
          throw fsError(err, path, 'read');
        });
        if (!stats.isFile()) throw notRegular(path);
        records[index] = toRecord(name, path, stats);
      }
    };
    await Promise.all(Array.from({ length: Math.min(STAT_CONCURRENCY, this.files.length) }, statNext));
    return records;
  }
}
