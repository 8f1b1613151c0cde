import { InputError } from '../errors.js';

/**
 * A bounded reader of the protobuf wire format (protobuf.dev/programming-guides/encoding), enough
 * to read a message whose schema the caller knows: one level at a time, each length-delimited
 * field a view into the input. Varints are at most 10 bytes, lengths are checked against the
 * bytes left before anything is sliced, and the number of fields is capped, so time and memory
 * are linear in the input. Groups (wire types 3 and 4, deprecated) are refused.
 */

export type ProtobufField =
  | { field: number; wireType: 0; value: bigint }
  | { field: number; wireType: 1 | 5; value: Buffer }
  | { field: number; wireType: 2; value: Buffer };

/** Fields read from one message at most; a message of N bytes has at most N/2 fields anyway. */
const DEFAULT_MAX_FIELDS = 100_000;
const MAX_FIELD_NUMBER = 2 ** 29 - 1;

/** The fields of one message, in wire order. Errors are InputError `protobuf.malformed` naming the offset. */
export function readProtobufFields(bytes: Uint8Array, what: string, maxFields = DEFAULT_MAX_FIELDS): ProtobufField[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fields: ProtobufField[] = [];
  let at = 0;
  const fail = (detail: string, offset: number) =>
    new InputError('protobuf.malformed', `${what}: ${detail} at byte ${offset}`);
  const varint = (): bigint => {
    const start = at;
    let value = 0n;
    for (let i = 0; i < 10; i++) {
      if (at >= buf.length) throw fail('a varint runs past the end', start);
      const b = buf[at++]!;
      value |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) return value;
    }
    throw fail('a varint is longer than 10 bytes', start);
  };
  const take = (n: number, start: number): Buffer => {
    if (n > buf.length - at) throw fail(`a field announces ${n} bytes but ${buf.length - at} remain`, start);
    const out = buf.subarray(at, at + n);
    at += n;
    return out;
  };
  while (at < buf.length) {
    if (fields.length >= maxFields) throw fail(`more than ${maxFields} fields`, at);
    const start = at;
    const key = varint();
    const wireType = Number(key & 7n);
    const fieldNumber = key >> 3n;
    if (fieldNumber === 0n || fieldNumber > BigInt(MAX_FIELD_NUMBER)) throw fail(`field number ${fieldNumber}`, start);
    const field = Number(fieldNumber);
    switch (wireType) {
      case 0:
        fields.push({ field, wireType, value: varint() });
        break;
      case 1:
        fields.push({ field, wireType, value: take(8, start) });
        break;
      case 5:
        fields.push({ field, wireType, value: take(4, start) });
        break;
      case 2: {
        const length = varint();
        if (length > BigInt(buf.length)) throw fail(`a field announces ${length} bytes`, start);
        fields.push({ field, wireType, value: take(Number(length), start) });
        break;
      }
      default:
        throw fail(`wire type ${wireType} (groups and reserved types are not read)`, start);
    }
  }
  return fields;
}
