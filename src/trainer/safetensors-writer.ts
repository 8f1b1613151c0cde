import { endianness } from 'node:os';
import { InputError } from '../errors.js';
import type { Checkpoint, CheckpointTensor, TrainingState } from './checkpoint.js';

/**
 * Encodes checkpoint tensors (F32, F64, F16 or BF16) as a safetensors file (huggingface/safetensors):
 * an 8-byte little-endian header length N, N bytes of JSON mapping each tensor name to {dtype,
 * shape, data_offsets}, then the tensors' bytes back to back. The bytes are a function of the
 * tensors alone, and for F32 tensors the Python SDK (python/aicert_trainer.py) writes the very same
 * bytes, so that a checkpoint digest means the same thing whichever SDK wrote it:
 * - tensors laid out sorted by the UTF-8 bytes of their names (the reference implementation sorts
 *   tensors of one dtype by name too), and listed in the header in that same order;
 * - the header is compact JSON (no spaces, non-ASCII characters as is), padded with spaces to a
 *   multiple of 8 bytes as the reference implementation does;
 * - values little-endian, bit for bit as given (NaN payloads and −0 included).
 * aicert reads these files with its strict parser (src/measure/formats/safetensors.ts).
 */

/** Bytes per element, and the typed array each dtype's data must be (F16 and BF16: bit patterns). */
const ELEMENTS = {
  F64: { bytes: 8, array: Float64Array },
  F32: { bytes: 4, array: Float32Array },
  F16: { bytes: 2, array: Uint16Array },
  BF16: { bytes: 2, array: Uint16Array },
} as const;
const HEADER_ALIGNMENT = 8;
const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/**
 * Names no tensor may have, and why: `__metadata__` is the format's metadata entry (our reader,
 * src/measure/formats/safetensors.ts, and the reference one take it for metadata); `__proto__` is
 * legal JSON, but assigning it to a JavaScript object sets the prototype instead, so code that
 * reads headers into plain objects loses or misreads such a tensor.
 */
const RESERVED_NAMES: ReadonlyMap<string, string> = new Map([
  ['__metadata__', "the safetensors format's metadata entry"],
  ['__proto__', 'JavaScript readers lose a member of that name'],
]);

type HeaderEntry = { dtype: CheckpointTensor['dtype']; shape: number[]; data_offsets: [number, number] };

/**
 * The header as compact JSON, members in the given order. Written by hand rather than with
 * JSON.stringify of an object: an object would move integer-like names ("2" before "10") ahead of
 * the rest, whatever the insertion order, and treats "__proto__" specially.
 */
function headerJson(entries: ReadonlyArray<readonly [string, HeaderEntry]>): string {
  return `{${entries.map(([name, entry]) => `${JSON.stringify(name)}:${JSON.stringify(entry)}`).join(',')}}`;
}

export function encodeSafetensors(tensors: TrainingState): Buffer {
  const names = [...tensors.keys()].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
  const header: Array<[string, HeaderEntry]> = [];
  let offset = 0;
  for (const name of names) {
    const { dtype, shape, data } = tensors.get(name)!;
    // A lone surrogate has no UTF-8 spelling: Buffer.from would silently replace it.
    if (name === '' || Buffer.from(name, 'utf8').toString('utf8') !== name) {
      throw new InputError('safetensors.bad-name', `tensor name ${JSON.stringify(name)} is empty or not valid Unicode`);
    }
    const reserved = RESERVED_NAMES.get(name);
    if (reserved !== undefined) {
      throw new InputError(
        'safetensors.bad-name',
        `tensor name ${JSON.stringify(name)} is reserved (${reserved}); rename the tensor`,
      );
    }
    const element = Object.hasOwn(ELEMENTS, dtype) ? ELEMENTS[dtype] : undefined;
    if (!element || !(data instanceof element.array))
      throw new InputError(
        'safetensors.bad-dtype',
        `tensor "${name}" must be F64, F32, F16 or BF16 data in a Float64Array, Float32Array or Uint16Array (bit patterns)`,
      );
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0) || shape.reduce((p, d) => p * d, 1) !== data.length) {
      throw new InputError(
        'safetensors.bad-shape',
        `tensor "${name}" has shape [${shape.join(', ')}] but ${data.length} values`,
      );
    }
    header.push([name, { dtype, shape: [...shape], data_offsets: [offset, offset + data.byteLength] }]);
    offset += data.byteLength;
  }
  const json = Buffer.from(headerJson(header), 'utf8');
  const headerLength = Math.ceil(json.length / HEADER_ALIGNMENT) * HEADER_ALIGNMENT;
  const file = Buffer.alloc(8 + headerLength + offset, 0x20); // header padding: spaces
  file.writeBigUInt64LE(BigInt(headerLength), 0);
  json.copy(file, 8);
  let position = 8 + headerLength;
  for (const name of names) {
    const { dtype, data } = tensors.get(name)!;
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (LITTLE_ENDIAN_HOST) bytes.copy(file, position);
    else {
      const size = ELEMENTS[dtype].bytes;
      for (let i = 0; i < bytes.length; i++) file[position + i] = bytes[i - (i % size) + size - 1 - (i % size)]!;
    }
    position += data.byteLength;
  }
  return file;
}

/** The SDKs' F32 checkpoints: the same encoding (a Checkpoint is a TrainingState of F32 tensors). */
export function encodeF32Safetensors(tensors: Checkpoint): Buffer {
  return encodeSafetensors(tensors);
}
