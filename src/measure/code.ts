/**
 * Measurement of a training-code directory (docs/measure.md): a clean git checkout is named by its
 * commit and tree ids plus the file manifest; a dirty one by its files, flagged; a directory
 * outside git by its files. Uses the `git` CLI, read-only (GIT_OPTIONAL_LOCKS=0, so `git status`
 * does not even refresh the index).
 */
import { execFile } from 'node:child_process';
import { access, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { EnvironmentError, InputError } from '../errors.js';
import { manifestOfFiles, measurePath, resolveMeasureOptions, withPool, type Manifest, type MeasureOptions } from './manifest.js';
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
      /** What `git status --porcelain` reported, one line per path (at most 100 lines). */
      changes: string[];
      manifest: Manifest;
    }
  | { kind: 'files'; manifest: Manifest };

/** Options of measureCode: those of a manifest, less the ones code has fixed answers for. */
export type CodeMeasureOptions = Omit<MeasureOptions, 'ignoreGitPaths' | 'shardSize'>;

const MAX_CHANGES_REPORTED = 100;

/**
 * Measures the code directory `path`. In a git work tree the manifest covers the files git
 * sees — tracked ones plus untracked ones not ignored by .gitignore — so build outputs and
 * virtualenvs stay out; outside git it covers every file. `.git` is never part of it.
 */
export async function measureCode(path: string, options: CodeMeasureOptions = {}): Promise<CodeMeasurement> {
  const fileOptions: MeasureOptions = { ...options, ignoreGitPaths: false, ignore: ['.git', ...(options.ignore ?? [])] };
  await checkDirectory(path);
  const repository = await findRepository(path);
  if (!repository) return { kind: 'files', manifest: await measurePath(path, fileOptions) };

  const git = (...args: string[]) => runGit(path, args);
  const commit = await git('rev-parse', '--verify', '--quiet', 'HEAD^{commit}').then(
    (out) => out.toString('utf8').trim(),
    () => undefined, // unborn branch: no commit yet
  );
  const gitStatus = async () => splitNul(await git('status', '--porcelain=v1', '-z', '--untracked-files=all', '--', '.'));
  const status = await gitStatus();
  const manifest = await manifestOfGitFiles(path, fileOptions, git);
  // The commit, the status and the hashed bytes must describe one state of the directory.
  if ((await gitStatus()).join('\0') !== status.join('\0')) {
    throw new InputError('measure.file-changed', `${path} changed while it was being measured; measure it again once nothing is writing to it`);
  }
  if (commit !== undefined && status.length === 0) {
    const tree = (await git('rev-parse', `HEAD:${repository.prefix}`)).toString('utf8').trim();
    return { kind: 'git', commit, tree, pathInRepository: repository.prefix.replace(/\/$/, ''), dirty: false, manifest };
  }
  return {
    kind: 'git',
    ...(commit === undefined ? {} : { commit }),
    pathInRepository: repository.prefix.replace(/\/$/, ''),
    dirty: true,
    changes: status.slice(0, MAX_CHANGES_REPORTED),
    manifest,
  };
}

/** Files git sees under `path` (tracked, or untracked and not ignored); nested repositories' `.git` left out. */
async function manifestOfGitFiles(
  path: string,
  options: MeasureOptions,
  git: (...args: string[]) => Promise<Buffer>,
): Promise<Manifest> {
  const staged = splitNul(await git('ls-files', '-z', '--stage', '--', '.'));
  const untracked = splitNul(await git('ls-files', '-z', '--others', '--exclude-standard', '--', '.'));
  const names = new Set<string>();
  const nestedRepositories: string[] = [];
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

async function checkDirectory(path: string): Promise<void> {
  const stats = await stat(path).catch((err: unknown) => {
    const errno = (err as NodeJS.ErrnoException).code;
    throw errno === 'ENOENT'
      ? new InputError('measure.not-found', `${path} does not exist`)
      : new InputError('measure.unreadable', `cannot read ${path}: ${(err as Error).message}`);
  });
  if (!stats.isDirectory()) throw new InputError('measure.not-a-directory', `${path} is not a directory; code is measured as a directory`);
}

/** The repository `path` lies in, or undefined outside git. Absent git is an error only inside a repository. */
async function findRepository(path: string): Promise<{ prefix: string } | undefined> {
  try {
    const out = await runGit(path, ['rev-parse', '--is-inside-work-tree', '--show-prefix']);
    const [inside, prefix = ''] = out.toString('utf8').split('\n');
    return inside === 'true' ? { prefix } : undefined;
  } catch (err) {
    if (err instanceof GitMissing) {
      if (await hasGitAncestor(path)) {
        throw new EnvironmentError('measure.git-missing', `${path} is in a git repository, but the git command is not installed`);
      }
      return undefined;
    }
    if (err instanceof GitFailed && /not a git repository/i.test(err.stderr)) return undefined;
    throw err;
  }
}

async function hasGitAncestor(path: string): Promise<boolean> {
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    if (await access(join(dir, '.git')).then(() => true, () => false)) return true;
    if (dirname(dir) === dir) return false;
  }
}

class GitMissing extends Error {}

class GitFailed extends EnvironmentError {
  constructor(args: string[], readonly stderr: string) {
    super('measure.git-failed', `git ${args.join(' ')} failed: ${stderr.trim()}`);
  }
}

const MAX_GIT_OUTPUT = 1024 * 1024 * 1024;

function runGit(cwd: string, args: string[]): Promise<Buffer> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      'git',
      args,
      { cwd, encoding: 'buffer', maxBuffer: MAX_GIT_OUTPUT, env: { ...process.env, GIT_OPTIONAL_LOCKS: '0', LC_ALL: 'C' } },
      (err, stdout, stderr) => {
        if (!err) return resolvePromise(stdout);
        // `cwd` is known to be a directory, so a spawn ENOENT means git itself is missing.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new GitMissing('git is not installed'));
        reject(new GitFailed(args, stderr.toString('utf8')));
      },
    );
  });
}

function splitNul(output: Buffer): string[] {
  if (output.length === 0) return [];
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let text: string;
  try {
    text = decoder.decode(output);
  } catch {
    throw new InputError('measure.bad-filename', 'git lists a file name that is not valid UTF-8; OMS manifests need UTF-8 names');
  }
  return text.split('\0').filter((part) => part !== '');
}
