import { readSync } from 'node:fs';

/**
 * A forward reader over the byte range [position, end) of an open file, for parsing headers of
 * untrusted model files. Every read is checked against `end` before anything is allocated or
 * read, so a lying length field produces `truncated(...)`, never a huge allocation or a read past
 * the region. Reads go through a small window so that headers made of many tiny fields (a GGUF
 * vocabulary) cost few system calls.
 */
export class FileCursor {
  private static readonly WINDOW_BYTES = 64 * 1024;
  private window: Buffer = Buffer.alloc(0);
  private reusable: Buffer | undefined;
  private windowStart = 0;

  constructor(
    private readonly fd: number,
    public position: number,
    /** Exclusive limit: the end of the file or of the region being parsed. */
    readonly end: number,
    /** Builds the error for a read past `end`; `what` names the field being read. */
    private readonly truncated: (what: string) => Error,
  ) {}

  get remaining(): number {
    return this.end - this.position;
  }

  /** The next n bytes, as a view that is valid until the next read. */
  bytes(n: number, what: string): Buffer {
    if (!Number.isSafeInteger(n) || n < 0 || n > this.remaining) throw this.truncated(what);
    const offset = this.position - this.windowStart;
    if (offset < 0 || offset + n > this.window.length) this.fill(n, what);
    const start = this.position - this.windowStart;
    this.position += n;
    return this.window.subarray(start, start + n);
  }

  skip(n: number, what: string): void {
    if (!Number.isSafeInteger(n) || n < 0 || n > this.remaining) throw this.truncated(what);
    this.position += n;
  }

  u8(what: string): number {
    return this.bytes(1, what)[0]!;
  }

  u32(what: string): number {
    return this.bytes(4, what).readUInt32LE(0);
  }

  u64(what: string): bigint {
    return this.bytes(8, what).readBigUInt64LE(0);
  }

  /**
   * Loads [position, position + max(n, window)) ∩ [.., end) into the window. Windows of the usual
   * size reuse one buffer (views are valid only until the next read), so a 100 MB header read a
   * window at a time allocates 64 KiB, not 100 MB of short-lived buffers.
   */
  private fill(n: number, what: string): void {
    const length = Math.min(Math.max(n, FileCursor.WINDOW_BYTES), this.remaining);
    this.reusable ??= Buffer.allocUnsafe(FileCursor.WINDOW_BYTES);
    const window = length <= FileCursor.WINDOW_BYTES ? this.reusable.subarray(0, length) : Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const read = readSync(this.fd, window, done, length - done, this.position + done);
      if (read === 0) throw this.truncated(what); // the file shrank under us
      done += read;
    }
    this.window = window;
    this.windowStart = this.position;
  }
}
