/**
 * Measurement of a training-code directory (docs/measure.md). Code is named by the files hashed:
 * the manifest. In a git work tree the result also names the HEAD commit when, and only when, the
 * hashed files are exactly that commit's files under the directory: the same paths, and for each
 * the blob id computed from the very bytes whose digest is in the manifest, equal to the blob id
 * the commit's verified tree lists (git-tree.ts). Git's index, its status and its flags
 * (assume-unchanged, skip-worktree, the untracked cache) decide nothing: a file they hide from
 * `git status` is still hashed, and still compared.
 */
import { constants } from 'node:fs';
import { access, type FileHandle, open, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { EnvironmentError, InputError } from '../errors.js';
import { createHasher, type HashAlgorithm } from './hash-algorithm.js';
import { GitFailed, GitMissing, runGit, splitNul } from './git-command.js';
import { blobIdHasher, objectFormatOf, readCommitFiles, type ObjectFormat, type TreeEntry } from './git-tree.js';
import {
  manifestOfFiles,
  measurePath,
  resolveMeasureOptions,
  withPool,
  type Manifest,
  type MeasureOptions,
} from './manifest.js';
import { listNamedFiles } from './walker.js';

export type CodeMeasurement =
  | {
      kind: 'git';
      /** HEAD commit id. */
      commit: string;
      /** Tree id of the measured directory at HEAD (the root tree, or the subtree of a subdirectory). */
      tree: string;
      /** The measured directory relative to the repository top ('' at the top). */
      pathInRepository: string;
      dirty: false;
      manifest: Manifest;
    }
  | {
      kind: 'git';
      /** Absent when the repository has no commit yet. */
      commit?: string;
      pathInRepository: string;
      dirty: true;
      /**
       * How the hashed files differ from the commit's, one line per path (at most 100), in the
       * style of `git status --porcelain`: "?? P" hashed but not in the commit, " M P" other bytes
       * or executable bit, " D P" in the commit but not hashed, " T P" a symbolic link or
       * submodule in the commit.
       */
      changes: string[];
      manifest: Manifest;
    }
  | { kind: 'files'; manifest: Manifest };

/** Options of measureCode: those of a manifest, less the ones code has fixed answers for. */
export type CodeMeasureOptions = Omit<MeasureOptions, 'ignoreGitPaths' | 'shardSize'>;

const MAX_CHANGES_REPORTED = 100;

/**
 * Measures the code directory `path`. In a git work tree the manifest covers the commit's files,
 * the files in git's index, and every other file that no `.gitignore` excludes — so build outputs
 * and virtualenvs stay out, while `.git/info/exclude` and `core.excludesFile`, which are not part
 * of the code, exclude nothing. Outside git it covers every file. `.git` is never part of it.
 */
export async function measureCode(path: string, options: CodeMeasureOptions = {}): Promise<CodeMeasurement> {
  const fileOptions: MeasureOptions = {
    ...options,
    ignoreGitPaths: false,
    ignore: ['.git', ...(options.ignore ?? [])],
  };
  await checkDirectory(path);
  const repository = await findRepository(path);
  if (!repository) return { kind: 'files', manifest: await measurePath(path, fileOptions) };

  const git = (...args: string[]) => runGit(path, args);
  const commit = await git('rev-parse', '--verify', '--quiet', 'HEAD^{commit}').then(
    (out) => out.toString('utf8').trim(),
    () => undefined, // unborn branch: no commit yet
  );
  const format = await objectFormatOf(path);
  const committed =
    commit === undefined ? undefined : await readCommitFiles(repository.top, commit, repository.prefix, format);
  const manifest = await manifestOfGitFiles(
    path,
    fileOptions,
    git,
    committed?.entries.keys() ?? [],
    committed?.submodules ?? [],
  );
  const pathInRepository = repository.prefix.replace(/\/$/, '');
  const changes = await changesFrom(path, manifest, committed?.entries ?? new Map(), format);
  if (commit !== undefined && committed !== undefined && changes.length === 0) {
    return { kind: 'git', commit, tree: committed.tree, pathInRepository, dirty: false, manifest };
  }
  return {
    kind: 'git',
    ...(commit === undefined ? {} : { commit }),
    pathInRepository,
    dirty: true,
    changes: changes.slice(0, MAX_CHANGES_REPORTED),
    manifest,
  };
}

/**
 * Files under `path` to measure: the commit's (`committedNames`), the index's, and the untracked
 * ones not excluded by a `.gitignore`, plus any `.gitignore` that excludes itself (it still
 * decides what else is left out). The `.git` of nested repositories and submodules is left out.
 */
async function manifestOfGitFiles(
  path: string,
  options: MeasureOptions,
  git: (...args: string[]) => Promise<Buffer>,
  committedNames: Iterable<string>,
  committedSubmodules: readonly string[],
): Promise<Manifest> {
  const staged = splitNul(await git('ls-files', '-z', '--stage', '--', '.'));
  // Only the .gitignore files, which are part of the code, exclude; not .git/info/exclude or core.excludesFile.
  const untracked = splitNul(await git('ls-files', '-z', '--others', '--exclude-per-directory=.gitignore', '--', '.'));
  const ignored = splitNul(
    await git(
      'ls-files',
      '-z',
      '--others',
      '--ignored',
      '--directory',
      '--exclude-per-directory=.gitignore',
      '--',
      '.',
    ),
  );
  const names = new Set<string>(committedNames);
  const nestedRepositories = committedSubmodules.map((name) => `${name}/.git`);
  for (const name of untracked) {
    // An untracked directory that is a repository of its own is listed once, as "dir/".
    if (name.endsWith('/')) nestedRepositories.push(`${name}.git`);
    names.add(name.replace(/\/$/, ''));
  }
  for (const line of staged) {
    // "<mode> <object> <stage>\t<path>"; mode 160000 is a submodule (gitlink).
    const tab = line.indexOf('\t');
    const name = line.slice(tab + 1);
    names.add(name);
    if (line.startsWith('160000 ')) nestedRepositories.push(`${name}/.git`);
  }
  for (const name of ignored) if (name === '.gitignore' || name.endsWith('/.gitignore')) names.add(name);
  const settings = resolveMeasureOptions({ ...options, ignore: [...(options.ignore ?? []), ...nestedRepositories] });
  return withPool(settings, async (pool) => {
    const files = await listNamedFiles(path, [...names], {
      ignore: new Set(settings.ignorePaths),
      allowSymlinks: settings.allowSymlinks,
    });
    if (files.length === 0) throw new InputError('measure.empty', `${path} holds no files to measure`);
    return manifestOfFiles(files, settings, pool);
  });
}

/**
 * How the hashed files differ from the commit's files `committed` (empty: no commit). Each file
 * with a committed counterpart is read once more, and that one read gives both its manifest
 * digest, which must equal the manifest's (else the file changed under us), and its git blob id.
 */
async function changesFrom(
  path: string,
  manifest: Manifest,
  committed: ReadonlyMap<string, TreeEntry>,
  format: ObjectFormat,
): Promise<string[]> {
  const lines: Array<string | undefined> = new Array(manifest.entries.length);
  const toRead: number[] = [];
  manifest.entries.forEach((entry, i) => {
    const expected = committed.get(entry.name);
    if (expected === undefined) lines[i] = `?? ${entry.name}`;
    else if (expected.mode === '120000' || expected.mode === '160000') lines[i] = ` T ${entry.name}`;
    else toRead.push(i);
  });
  // Small files dominate code: a few reads in flight hide the latency of each open and stat.
  let next = 0;
  const reader = async () => {
    const buffer = Buffer.alloc(READ_SIZE);
    for (let i = next++; i < toRead.length; i = next++) {
      const entry = manifest.entries[toRead[i]!]!;
      const expected = committed.get(entry.name)!;
      const file = await readAsBlob(join(path, ...entry.name.split('/')), manifest.hashAlgorithm, format, buffer);
      if (file === 'symlink') {
        lines[toRead[i]!] = ` T ${entry.name}`;
        continue;
      }
      if (file.digest !== entry.digest || file.size !== entry.size) throw fileChanged(join(path, entry.name));
      if (file.blobId !== expected.id || file.executable !== (expected.mode === '100755'))
        lines[toRead[i]!] = ` M ${entry.name}`;
    }
  };
  await Promise.all(Array.from({ length: READS_IN_FLIGHT }, reader));
  const hashed = new Set(manifest.entries.map((entry) => entry.name));
  const changes = lines.filter((line): line is string => line !== undefined);
  for (const name of committed.keys()) if (!hashed.has(name)) changes.push(` D ${name}`);
  return changes;
}

const READS_IN_FLIGHT = 8;

/** The file at `path`, read once (through `buffer`): its digest by `algorithm`, its git blob id, its executable bit. */
async function readAsBlob(
  path: string,
  algorithm: HashAlgorithm,
  format: ObjectFormat,
  buffer: Buffer,
): Promise<{ digest: string; size: number; blobId: string; executable: boolean } | 'symlink'> {
  let file: FileHandle;
  try {
    // O_NOFOLLOW: a link followed by --allow-symlinks is not the regular file the commit holds.
    file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    if (errno === 'ELOOP') return 'symlink';
    if (errno === 'ENOENT')
      throw new InputError('measure.file-missing', `${path} disappeared while it was being measured`);
    throw new InputError('measure.unreadable', `cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    const stats = await file.stat();
    if (!stats.isFile()) throw fileChanged(path);
    const digest = createHasher(algorithm);
    const blob = blobIdHasher(format, stats.size);
    let size = 0;
    for (;;) {
      const { bytesRead } = await file.read(buffer, 0, buffer.length, size);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      digest.update(chunk);
      blob.update(chunk);
      size += bytesRead;
      if (size > stats.size) throw fileChanged(path);
    }
    if (size !== stats.size) throw fileChanged(path);
    return {
      digest: Buffer.from(digest.digest()).toString('hex'),
      size,
      blobId: blob.digest('hex'),
      executable: (stats.mode & 0o100) !== 0,
    };
  } finally {
    await file.close();
  }
}

const READ_SIZE = 128 * 1024;

function fileChanged(path: string): InputError {
  return new InputError(
    'measure.file-changed',
    `${path} changed while it was being measured; measure it again once nothing is writing to it`,
  );
}

async function checkDirectory(path: string): Promise<void> {
  const stats = await stat(path).catch((err: unknown) => {
    const errno = (err as NodeJS.ErrnoException).code;
    throw errno === 'ENOENT'
      ? new InputError('measure.not-found', `${path} does not exist`)
      : new InputError('measure.unreadable', `cannot read ${path}: ${(err as Error).message}`);
  });
  if (!stats.isDirectory())
    throw new InputError('measure.not-a-directory', `${path} is not a directory; code is measured as a directory`);
}

/**
 * The work tree `path` lies in: its top directory, and `path` relative to it ('' or ending in
 * '/'); undefined outside git. Absent git is an error only inside a repository.
 */
async function findRepository(path: string): Promise<{ top: string; prefix: string } | undefined> {
  try {
    const out = await runGit(path, ['rev-parse', '--is-inside-work-tree']);
    if (out.toString('utf8').trim() !== 'true') return undefined;
    const [top = '', prefix = ''] = (await runGit(path, ['rev-parse', '--show-toplevel', '--show-prefix']))
      .toString('utf8')
      .split('\n');
    return { top, prefix };
  } catch (err) {
    if (err instanceof GitMissing) {
      if (await hasGitAncestor(path)) {
        throw new EnvironmentError(
          'measure.git-missing',
          `${path} is in a git repository, but the git command is not installed`,
        );
      }
      return undefined;
    }
    if (err instanceof GitFailed && /not a git repository/i.test(err.stderr)) return undefined;
    throw err;
  }
}

async function hasGitAncestor(path: string): Promise<boolean> {
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    if (
      await access(join(dir, '.git')).then(
        () => true,
        () => false,
      )
    )
      return true;
    if (dirname(dir) === dir) return false;
  }
}
