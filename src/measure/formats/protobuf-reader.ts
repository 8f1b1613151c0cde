import type { FileCursor } from './file-cursor.js';

/**
 * Just enough of the protobuf wire format to walk an untrusted message in a file and pick out a
 * few fields: tags, varints, length-delimited fields (whose lengths must fit inside the enclosing
 * message), fixed-width fields, nested messages to a bounded depth. Fields a visitor does not
 * consume are skipped without being read, so a 2 GB ONNX file costs only its structure. Groups
 * (wire types 3 and 4, deprecated since proto2) are rejected.
 */

export enum WireType {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  Fixed32 = 5,
}

/** Called per field; returns true if it consumed the field's value, false to have it skipped. */
export type FieldVisitor = (field: number, wire: WireType) => boolean;

const MAX_FIELD_NUMBER = 2 ** 29 - 1;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export class ProtobufReader {
  /** End offsets of the messages being read, innermost last. */
  private readonly ends: number[] = [];

  constructor(
    private readonly cursor: FileCursor,
    private readonly malformed: (message: string) => Error,
    private readonly maxDepth = 64,
  ) {}

  /** Visits the fields of the whole region as one top-level message. */
  readTopLevel(visit: FieldVisitor): void {
    this.readFields(this.cursor.end, visit);
  }

  /** Visits the fields of a length-delimited embedded message (the current field's value). */
  readMessage(visit: FieldVisitor): void {
    if (this.ends.length >= this.maxDepth) throw this.malformed(`messages nested deeper than ${this.maxDepth}`);
    const { end } = this.body('embedded message');
    this.ends.push(end);
    try {
      this.readFields(end, visit);
    } finally {
      this.ends.pop();
    }
  }

  varint(what: string): bigint {
    let value = 0n;
    for (let i = 0; i < 10; i++) {
      const byte = this.cursor.u8(what);
      if (i === 9 && byte > 1) throw this.malformed(`${what}: varint longer than 64 bits`);
      value |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if ((byte & 0x80) === 0) return value;
    }
    throw this.malformed(`${what}: varint longer than 10 bytes`);
  }

  /** A varint that must be a safe non-negative integer (lengths, counts, enum values). */
  uint(what: string): number {
    const value = this.varint(what);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw this.malformed(`${what}: ${value} is too large`);
    return Number(value);
  }

  /** Skips the current length-delimited field's body and returns its byte range in the file. */
  lengthDelimited(what: string): { start: number; end: number } {
    const range = this.body(what);
    this.cursor.skip(range.end - range.start, what);
    return range;
  }

  string(what: string, maxBytes: number): string {
    const { start, end } = this.body(what);
    if (end - start > maxBytes) throw this.malformed(`${what} is ${end - start} bytes; the limit is ${maxBytes}`);
    try {
      return utf8.decode(this.cursor.bytes(end - start, what));
    } catch (err) {
      if (err instanceof TypeError) throw this.malformed(`${what} is not valid UTF-8`);
      throw err;
    }
  }

  /** Values of a repeated varint field, packed (wire type 2) or not (wire type 0). */
  repeatedVarint(wire: WireType, what: string, onValue: (value: bigint) => void): void {
    if (wire === WireType.Varint) {
      onValue(this.varint(what));
      return;
    }
    if (wire !== WireType.LengthDelimited) throw this.malformed(`${what} has wire type ${wire}`);
    const { end } = this.body(what);
    while (this.cursor.position < end) onValue(this.varint(what));
    if (this.cursor.position !== end) throw this.malformed(`${what}: packed values overrun their field`);
  }

  /** Fails unless the current field has the wire type a visitor expects. */
  expect(wire: WireType, expected: WireType, what: string): void {
    if (wire !== expected) throw this.malformed(`${what} has wire type ${wire}, expected ${expected}`);
  }

  private readFields(end: number, visit: FieldVisitor): void {
    while (this.cursor.position < end) {
      const tag = this.varint('field tag');
      const field = Number(tag >> 3n);
      const wire = Number(tag & 7n);
      if (field === 0 || field > MAX_FIELD_NUMBER) throw this.malformed(`invalid field number ${tag >> 3n}`);
      if (
        wire !== WireType.Varint &&
        wire !== WireType.Fixed64 &&
        wire !== WireType.LengthDelimited &&
        wire !== WireType.Fixed32
      ) {
        throw this.malformed(`field ${field} has unsupported wire type ${wire}`);
      }
      if (!visit(field, wire)) this.skip(wire);
    }
    if (this.cursor.position !== end) throw this.malformed('a field runs past the end of its message');
  }

  /** Reads a length prefix and checks that the body fits inside the enclosing message. */
  private body(what: string): { start: number; end: number } {
    const length = this.uint(`${what} length`);
    const start = this.cursor.position;
    if (length > this.limit() - start) throw this.malformed(`${what} of ${length} bytes runs past its message`);
    return { start, end: start + length };
  }

  private skip(wire: WireType): void {
    if (wire === WireType.Varint) this.varint('skipped varint');
    else if (wire === WireType.Fixed64) this.cursor.skip(8, 'skipped fixed64');
    else if (wire === WireType.Fixed32) this.cursor.skip(4, 'skipped fixed32');
    else this.lengthDelimited('skipped field');
  }

  private limit(): number {
    return this.ends[this.ends.length - 1] ?? this.cursor.end;
  }
}
