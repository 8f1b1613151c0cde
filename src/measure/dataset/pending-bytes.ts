/**
 * The bytes of a record that began in an earlier read chunk. Chunks are read into a reused
 * buffer, so the pieces are copied; the total is capped so one endless line cannot exhaust
 * memory.
 */
export class PendingBytes {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly tooLong: () => Error,
  ) {}

  get isEmpty(): boolean {
    return this.size === 0;
  }

  add(piece: Buffer): void {
    if (piece.length === 0) return;
    this.grow(piece.length);
    this.parts.push(Buffer.from(piece));
  }

  /** The whole record: the pending pieces followed by `tail`; the pending bytes are cleared. */
  take(tail: Buffer): Buffer {
    if (this.size === 0) {
      if (tail.length > this.maxBytes) throw this.tooLong();
      return tail;
    }
    this.grow(tail.length);
    const whole = Buffer.concat([...this.parts, tail], this.size);
    this.parts = [];
    this.size = 0;
    return whole;
  }

  private grow(by: number): void {
    this.size += by;
    if (this.size > this.maxBytes) throw this.tooLong();
  }
}
