/**
 * The `git` CLI as code measurement uses it (code.ts, git-tree.ts, git-objects.ts): read-only, no optional locks,
 * C locale, output bounded. What git prints is untrusted: callers check what they rely on.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { EnvironmentError, InputError } from '../errors.js';

/** git is not installed (spawn ENOENT). */
export class GitMissing extends Error {}

export class GitFailed extends EnvironmentError {
  constructor(
    args: readonly string[],
    readonly stderr: string,
  ) {
    super('measure.git-failed', `git ${args.join(' ')} failed: ${stderr.trim()}`);
  }
}

/**
 * Configuration that would let git consult caches or run programs while listing files: an
 * fsmonitor hook is a command of the repository's choosing, and the untracked cache is data in
 * the index that can hide a file from `ls-files --others`.
 */
const SAFE_CONFIG = ['-c', 'core.fsmonitor=false', '-c', 'core.untrackedCache=false'];

const MAX_GIT_OUTPUT = 1024 * 1024 * 1024;
const MAX_GIT_STDERR = 64 * 1024;

/**
 * Starts `git ARGS` in `cwd` (a directory) with the safe configuration and environment. A spawn
 * failure is reported to `onError` as GitMissing (git not installed) or GitFailed.
 */
export function spawnGit(
  cwd: string,
  args: readonly string[],
  onError: (err: Error) => void,
): ChildProcessWithoutNullStreams {
  const child = spawn('git', [...SAFE_CONFIG, ...args], {
    cwd,
    // GIT_NO_REPLACE_OBJECTS: `git replace` would have git serve another object under an id.
    env: { ...process.env, GIT_OPTIONAL_LOCKS: '0', GIT_NO_REPLACE_OBJECTS: '1', LC_ALL: 'C' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // `cwd` is known to be a directory, so a spawn ENOENT means git itself is missing.
  child.on('error', (err: NodeJS.ErrnoException) =>
    onError(err.code === 'ENOENT' ? new GitMissing('git is not installed') : new GitFailed(args, err.message)),
  );
  child.stdin.on('error', () => {}); // git may exit before reading all of its input; its status says why
  return child;
}

/** Collects what a git process writes to stderr, up to a bound. */
export function stderrOf(child: ChildProcessWithoutNullStreams): () => string {
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < MAX_GIT_STDERR) stderr += chunk.toString('utf8');
  });
  return () => stderr;
}

/** Runs `git ARGS` in `cwd` (a directory), writing `input` to its stdin; resolves with its stdout. */
export function runGit(cwd: string, args: readonly string[], input?: Buffer): Promise<Buffer> {
  return new Promise((resolvePromise, reject) => {
    const child = spawnGit(cwd, args, reject);
    const stderr = stderrOf(child);
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let tooLarge = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > MAX_GIT_OUTPUT) {
        tooLarge = true;
        child.kill('SIGKILL');
      } else {
        stdout.push(chunk);
      }
    });
    child.stdin.end(input);
    child.on('close', (status) => {
      if (tooLarge) {
        reject(
          new InputError('measure.git-too-large', `git ${args.join(' ')} printed more than ${MAX_GIT_OUTPUT} bytes`),
        );
      } else if (status === 0) {
        resolvePromise(Buffer.concat(stdout));
      } else {
        reject(new GitFailed(args, stderr()));
      }
    });
  });
}

/** NUL-separated git output (`-z`) as strings; names must be UTF-8, as OMS manifests need. */
export function splitNul(output: Buffer): string[] {
  if (output.length === 0) return [];
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let text: string;
  try {
    text = decoder.decode(output);
  } catch {
    throw new InputError(
      'measure.bad-filename',
      'git lists a file name that is not valid UTF-8; OMS manifests need UTF-8 names',
    );
  }
  return text.split('\0').filter((part) => part !== '');
}
