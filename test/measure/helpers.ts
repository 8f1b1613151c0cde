/** Shared helpers of the measurement tests: scratch directories and the reference hashing tools. */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';

/** A fresh directory, removed when the test file ends. */
export function scratchDir(label = 'measure'): string {
  const dir = mkdtempSync(join(tmpdir(), `aicert-${label}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `files` (relative path → content) under `root`, creating directories. */
export function writeTree(root: string, files: Record<string, string | Buffer>): void {
  for (const [name, content] of Object.entries(files)) {
    const path = join(root, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  }
}

/** `sha256sum FILE` — the independent reference the acceptance criteria name. */
export function sha256sum(path: string): string {
  return execFileSync('sha256sum', [path], { encoding: 'utf8' }).split(' ')[0]!;
}

/** Digest of bytes [start, end) of FILE by `tail | head | openssl`, independent of our reader. */
export function opensslRange(path: string, start: number, end: number, algorithm = 'sha256'): string {
  const script = `tail -c +${start + 1} "$1" | head -c ${end - start} | openssl dgst -${algorithm} -r`;
  return execFileSync('sh', ['-c', script, 'sh', path], { encoding: 'utf8' }).split(' ')[0]!;
}

/** `b3sum FILE`. */
export function b3sum(path: string): string {
  return execFileSync('b3sum', ['--no-names', path], { encoding: 'utf8' }).trim();
}

/**
 * `openssl dgst -sha256 FILE`, asynchronously, so it runs while our pool hashes on the other core
 * (coreutils sha256sum has no SHA-NI and takes 4× as long on big files).
 */
export function opensslAsync(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', ['dgst', '-sha256', '-r', path]);
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (status) =>
      status === 0 ? resolve(out.split(' ')[0]!) : reject(new Error(`openssl exited ${status}`)),
    );
  });
}

export const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `aicert ARGS`, optionally as another user (to meet permission errors while root). */
export function runCli(args: string[], options: { cwd?: string; uid?: number; gid?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd ?? process.cwd(),
      ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid ?? options.uid }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
