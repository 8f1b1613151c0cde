/**
 * Objects of a git repository, each verified by its id: one `git cat-file --batch` process per
 * repository, asked for objects one round at a time. git serves an object file's bytes without
 * checking them against its name, so every object is hashed here ("<type> <size>\0<content>",
 * SHA-1 or SHA-256 by the repository's object format) and must give the id it was asked for.
 */
import { createHash } from 'node:crypto';
import { InputError } from '../errors.js';
import { GitFailed, spawnGit, stderrOf } from './git-command.js';

export type ObjectFormat = 'sha1' | 'sha256';

export const ID_BYTES: Readonly<Record<ObjectFormat, number>> = { sha1: 20, sha256: 32 };

/** Commits and trees of code are small; a larger object is refused rather than buffered. */
const MAX_OBJECT_BYTES = 64 * 1024 * 1024;
const MAX_HEADER_BYTES = 200;

export function badObject(id: string, why: string): InputError {
  return new InputError(
    'measure.git-bad-object',
    `git object ${id} ${why}; the repository is damaged or was tampered with`,
  );
}

interface Pending {
  id: string;
  type: 'commit' | 'tree';
  resolve: (content: Buffer) => void;
  reject: (err: Error) => void;
}

export class GitObjectReader {
  private readonly child;
  private readonly stderr: () => string;
  private readonly pending: Pending[] = [];
  private buffered = Buffer.alloc(0);
  /** Chunks received but not yet appended to `buffered`, while fewer than `needed` bytes are there. */
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  private needed = 0;
  private failure: Error | undefined;

  constructor(
    dir: string,
    readonly format: ObjectFormat,
  ) {
    this.child = spawnGit(dir, ['cat-file', '--batch'], (err) => this.fail(err));
    this.stderr = stderrOf(this.child);
    this.child.stdout.on('data', (chunk: Buffer) => this.receive(chunk));
    this.child.on('close', () =>
      this.fail(new GitFailed(['cat-file', '--batch'], this.stderr() || 'git exited early')),
    );
  }

  /** The contents of objects `ids`, all of type `type`, in order, each verified by its id. */
  read(ids: readonly string[], type: 'commit' | 'tree'): Promise<Buffer[]> {
    const idPattern = new RegExp(`^[0-9a-f]{${ID_BYTES[this.format] * 2}}$`);
    for (const id of ids)
      if (!idPattern.test(id)) return Promise.reject(badObject(id, `is not a ${this.format} object id`));
    if (this.failure) return Promise.reject(this.failure);
    const contents = ids.map(
      (id) => new Promise<Buffer>((resolve, reject) => this.pending.push({ id, type, resolve, reject })),
    );
    this.child.stdin.write(ids.map((id) => `${id}\n`).join(''));
    return Promise.all(contents);
  }

  close(): void {
    this.child.stdin.end();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const waiter of this.pending.splice(0)) waiter.reject(this.failure);
  }

  /** Parses "<id> <type> <size>\n<content>\n" (or "<id> missing\n") answers from the stream. */
  private receive(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.chunkBytes += chunk.length;
    // A large object arrives in many chunks: join them once, when all of it is there.
    if (this.buffered.length + this.chunkBytes < this.needed) return;
    this.buffered = Buffer.concat([this.buffered, ...this.chunks]);
    this.chunks = [];
    this.chunkBytes = 0;
    this.needed = 0;
    while (this.pending.length > 0 && !this.failure) {
      const { id, type } = this.pending[0]!;
      const newline = this.buffered.indexOf(0x0a);
      if (newline < 0) {
        if (this.buffered.length > MAX_HEADER_BYTES)
          this.abort(badObject(id, 'was answered by git cat-file with a header too long'));
        return;
      }
      const header = this.buffered.subarray(0, newline).toString('latin1');
      if (header === `${id} missing`) {
        this.settle(
          newline + 1,
          new InputError('measure.git-object-missing', `git object ${id} is not in the repository`),
        );
        continue;
      }
      const match = /^([0-9a-f]+) ([a-z]+) (\d{1,10})$/.exec(header);
      if (!match || match[1] !== id) {
        this.abort(badObject(id, `was not returned by git cat-file (it said ${JSON.stringify(header.slice(0, 100))})`));
        return;
      }
      const size = Number(match[3]);
      if (size > MAX_OBJECT_BYTES) {
        this.abort(badObject(id, `has ${size} bytes, more than a ${type} of code may have`));
        return;
      }
      const start = newline + 1;
      if (this.buffered.length < start + size + 1) {
        this.needed = start + size + 1;
        return;
      }
      if (this.buffered[start + size] !== 0x0a) {
        this.abort(badObject(id, 'was answered by git cat-file in a form it does not use'));
        return;
      }
      const content = Buffer.from(this.buffered.subarray(start, start + size));
      const actual = createHash(this.format).update(`${match[2]} ${size}\0`).update(content).digest('hex');
      if (actual !== id) this.settle(start + size + 1, badObject(id, `hashes to ${actual}`));
      else if (match[2] !== type) this.settle(start + size + 1, badObject(id, `is a ${match[2]}, not a ${type}`));
      else this.settle(start + size + 1, content);
    }
  }

  private settle(consumed: number, result: Buffer | Error): void {
    this.buffered = this.buffered.subarray(consumed);
    const waiter = this.pending.shift()!;
    if (result instanceof Error) waiter.reject(result);
    else waiter.resolve(result);
  }

  private abort(err: Error): void {
    this.fail(err);
    this.child.kill('SIGKILL');
  }
}
