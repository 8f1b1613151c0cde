import { isUtf8 } from 'node:buffer';
import { InputError } from '../../errors.js';
import { binaryJson, checkDepth, dateValue, scalarJson } from './canonical-row.js';

/**
 * A Parquet text value (STRING or JSON column) kept as its UTF-8 bytes, checked as UTF-8 when it
 * was decoded, so that a row can be encoded without making a JavaScript string of every value
 * and encoding it back to bytes. Its encoding is that of the string `toString()` returns, the
 * value as text: what canonical-row.ts encodes.
 */
export class Utf8Text {
  readonly bytes: Uint8Array;

  /** `bytes` must be valid UTF-8 (`isUtf8`); a leading byte order mark is not part of the text. */
  constructor(bytes: Uint8Array) {
    // The text of these bytes is what a fatal WHATWG UTF-8 decoder (TextDecoder) gives, which
    // drops a leading byte order mark: records of Parquet text have been defined by that decoding.
    this.bytes = startsWithBom(bytes) ? bytes.subarray(3) : bytes;
  }

  /** `bytes` as text; throws as a fatal TextDecoder does when they are not valid UTF-8. */
  static of(bytes: Uint8Array): Utf8Text {
    if (!isUtf8(bytes)) throw new TypeError('The encoded data was not valid for encoding utf-8');
    return new Utf8Text(bytes);
  }

  /** The text, as a string: what map keys become (hyparquet uses them as property names). */
  toString(): string {
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength).toString('utf8');
  }
}

function startsWithBom(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}

const INITIAL_BYTES = 64 * 1024;
/** Up to this many bytes, a loop copies faster than a call into the runtime (numbers, keys). */
const SHORT_BYTES = 32;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const HEX = '0123456789abcdef';
/** JSON.stringify's short escapes of control characters; the others are \u00XX. */
const SHORT_ESCAPES: Record<number, string> = { 8: '\\b', 9: '\\t', 10: '\\n', 12: '\\f', 13: '\\r' };

/**
 * Writes rows' canonical encodings (canonical-row.ts, the definition) as bytes into one reusable
 * buffer, ready to hash: `leafInput(row)` is 0x00 ‖ the row's UTF-8 encoding, the input of its leaf
 * hash, which is the UTF-8 of `canonicalRow(names, row)` with Utf8Text values read as their text
 * (tested). A row longer than `maxRecordBytes` is refused as soon as its encoding passes that
 * length, so the buffer never grows past it.
 */
export class CanonicalRowWriter {
  private buffer: Buffer;
  private at = 0;
  /** `{"name":` for the first column, `,"name":` for the others, as UTF-8. */
  private readonly keys: Buffer[];

  constructor(
    names: readonly string[],
    private readonly maxRecordBytes: number,
    private readonly path: string,
  ) {
    this.keys = names.map((name, i) => Buffer.from(`${i === 0 ? '{' : ','}${JSON.stringify(name)}:`));
    // Never longer than 0x00 ‖ the longest record allowed: growing past it is the length check.
    this.buffer = Buffer.allocUnsafe(Math.min(INITIAL_BYTES, maxRecordBytes + 1));
  }

  /** 0x00 ‖ the row's canonical encoding; the view is valid until the next call. */
  leafInput(row: readonly unknown[]): Buffer {
    this.at = 0;
    this.byte(0);
    const { keys } = this;
    if (keys.length === 0) this.byte(0x7b); // {
    for (let i = 0; i < keys.length; i++) {
      this.bytes(keys[i]!);
      this.value(row[i], 0);
    }
    this.byte(0x7d); // }
    return this.buffer.subarray(0, this.at);
  }

  private value(value: unknown, depth: number): void {
    checkDepth(depth);
    if (typeof value === 'object' && value !== null) this.object(value, depth);
    else if (typeof value === 'string') this.text(JSON.stringify(value));
    else this.ascii(scalarJson(value));
  }

  private object(value: object, depth: number): void {
    if (value instanceof Utf8Text) this.jsonString(value.bytes);
    else if (value instanceof Uint8Array) this.ascii(binaryJson(value));
    else if (Array.isArray(value) || ArrayBuffer.isView(value)) this.array(value as ArrayLike<unknown>, depth);
    else if (value instanceof Date) throw dateValue();
    else this.members(value, depth);
  }

  private array(items: ArrayLike<unknown>, depth: number): void {
    this.byte(0x5b); // [
    for (let i = 0; i < items.length; i++) {
      if (i > 0) this.byte(0x2c); // ,
      this.value(items[i], depth + 1);
    }
    this.byte(0x5d); // ]
  }

  private members(value: object, depth: number): void {
    this.byte(0x7b); // {
    let first = true;
    for (const [key, item] of Object.entries(value)) {
      if (!first) this.byte(0x2c);
      first = false;
      this.text(JSON.stringify(key));
      this.byte(0x3a); // :
      this.value(item, depth + 1);
    }
    this.byte(0x7d); // }
  }

  /** A JSON string of valid UTF-8 `bytes`, escaped as JSON.stringify escapes its text. */
  private jsonString(bytes: Uint8Array): void {
    const length = bytes.length;
    let plain = 0;
    while (plain < length) {
      const b = bytes[plain]!;
      if (b < 0x20 || b === QUOTE || b === BACKSLASH) break;
      plain++;
    }
    this.reserve(length + 2);
    const buffer = this.buffer;
    buffer[this.at++] = QUOTE;
    if (plain === length) {
      buffer.set(bytes, this.at);
      this.at += length;
    } else {
      buffer.set(bytes.subarray(0, plain), this.at);
      this.at += plain;
      this.escaped(bytes, plain);
    }
    this.byte(QUOTE);
  }

  /** bytes[from…] with ", \ and control characters escaped (valid UTF-8 needs nothing else). */
  private escaped(bytes: Uint8Array, from: number): void {
    for (let i = from; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (b >= 0x20 && b !== QUOTE && b !== BACKSLASH) this.byte(b);
      else if (b === QUOTE) this.ascii('\\"');
      else if (b === BACKSLASH) this.ascii('\\\\');
      else this.ascii(SHORT_ESCAPES[b] ?? `\\u00${HEX[b >> 4]}${HEX[b & 15]}`);
    }
  }

  private byte(b: number): void {
    if (this.at >= this.buffer.length) this.reserve(1);
    this.buffer[this.at++] = b;
  }

  private bytes(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    if (bytes.length > SHORT_BYTES) this.buffer.set(bytes, this.at);
    else for (let i = 0; i < bytes.length; i++) this.buffer[this.at + i] = bytes[i]!;
    this.at += bytes.length;
  }

  /** A string of ASCII characters (one byte each). */
  private ascii(text: string): void {
    this.reserve(text.length);
    if (text.length > SHORT_BYTES) this.at += this.buffer.write(text, this.at, 'latin1');
    else for (let i = 0; i < text.length; i++) this.buffer[this.at++] = text.charCodeAt(i);
  }

  /** Any string, as UTF-8. */
  private text(text: string): void {
    const length = Buffer.byteLength(text);
    this.reserve(length);
    this.at += this.buffer.write(text, this.at, length, 'utf8');
  }

  /** Room for `n` more bytes, or the row is refused: its record would pass maxRecordBytes. */
  private reserve(n: number): void {
    const needed = this.at + n;
    if (needed <= this.buffer.length) return;
    // The first byte is the leaf prefix, not part of the record.
    if (needed - 1 > this.maxRecordBytes) {
      throw new InputError(
        'dataset.record-too-long',
        `a row of ${this.path} encodes to more than ${this.maxRecordBytes} bytes`,
      );
    }
    const grown = Buffer.allocUnsafe(Math.min(Math.max(needed, 2 * this.buffer.length), this.maxRecordBytes + 1));
    this.buffer.copy(grown, 0, 0, this.at);
    this.buffer = grown;
  }
}
