import { InputError } from '../errors.js';

/**
 * The one marshalling engine for TPM 2.0 wire structures (big-endian, TPM2B = u16 size + bytes).
 * Every read is bounds-checked before it happens: a truncated or malformed structure raises
 * `TpmFormatError`, never an out-of-bounds read, and no allocation is sized from an
 * unchecked length field (TPM2B lengths are checked against the bytes actually present).
 */
export class TpmFormatError extends InputError {
  constructor(message: string) {
    super('tpm.malformed', message);
    this.name = 'TpmFormatError';
  }
}

export class TpmReader {
  private offset = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly what = 'TPM structure',
  ) {}

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  get position(): number {
    return this.offset;
  }

  private need(n: number, field: string): void {
    if (n > this.remaining) {
      throw new TpmFormatError(
        `${this.what} is truncated: ${field} needs ${n} bytes at offset ${this.offset}, ${this.remaining} left`,
      );
    }
  }

  u8(field = 'u8'): number {
    this.need(1, field);
    return this.bytes[this.offset++]!;
  }

  u16(field = 'u16'): number {
    this.need(2, field);
    const v = (this.bytes[this.offset]! << 8) | this.bytes[this.offset + 1]!;
    this.offset += 2;
    return v;
  }

  u32(field = 'u32'): number {
    this.need(4, field);
    const b = this.bytes;
    const o = this.offset;
    this.offset += 4;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }

  u64(field = 'u64'): bigint {
    const hi = this.u32(field);
    const lo = this.u32(field);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** A view (no copy) of the next `n` bytes. */
  bytesView(n: number, field = 'bytes'): Uint8Array {
    this.need(n, field);
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** A copy of the next `n` bytes, as a Buffer. */
  bytesCopy(n: number, field = 'bytes'): Buffer {
    return Buffer.from(this.bytesView(n, field));
  }

  /** TPM2B: u16 size, then that many bytes (copied). `max` bounds the size where the spec does. */
  tpm2b(field = 'TPM2B', max = 0xffff): Buffer {
    const size = this.u16(`${field}.size`);
    if (size > max) throw new TpmFormatError(`${this.what}: ${field} has size ${size}, over its limit of ${max}`);
    return this.bytesCopy(size, field);
  }

  /** A copy of the bytes consumed since `start` (a value of `position`). */
  consumedSince(start: number): Buffer {
    return Buffer.from(this.bytes.subarray(start, this.offset));
  }

  /** Asserts that the structure was consumed exactly. */
  end(): void {
    if (this.remaining !== 0) {
      throw new TpmFormatError(`${this.what} has ${this.remaining} unexpected trailing bytes`);
    }
  }
}

export class TpmWriter {
  private readonly chunks: Buffer[] = [];
  private length = 0;

  private push(b: Buffer): this {
    this.chunks.push(b);
    this.length += b.length;
    return this;
  }

  u8(v: number): this {
    return this.push(Buffer.of(v & 0xff));
  }

  u16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    return this.push(b);
  }

  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    return this.push(b);
  }

  u64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    return this.push(b);
  }

  bytes(data: Uint8Array): this {
    return this.push(Buffer.from(data));
  }

  tpm2b(data: Uint8Array): this {
    if (data.length > 0xffff) throw new RangeError(`TPM2B of ${data.length} bytes is too large`);
    return this.u16(data.length).bytes(data);
  }

  get size(): number {
    return this.length;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

/** Marshals with a writer callback and returns the bytes. */
export function marshal(write: (w: TpmWriter) => void): Buffer {
  const w = new TpmWriter();
  write(w);
  return w.toBuffer();
}
