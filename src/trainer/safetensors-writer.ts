import { endianness } from 'node:os';
import { InputError } from '../errors.js';
import type { Checkpoint } from './checkpoint.js';

/**
 * Encodes F32 tensors as a safetensors file (huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON mapping each tensor name to {dtype, shape, data_offsets}, then
 * the tensors' bytes back to back. The bytes are a function of the tensors alone, and the Python
 * SDK (python/aicert_trainer.py) writes the very same bytes, so that a checkpoint digest means the
 * same thing whichever SDK wrote it:
 * - tensors laid out sorted by the UTF-8 bytes of their names (the reference implementation sorts
 *   tensors of one dtype by name too), and listed in the header in that same order;
 * - the header is compact JSON (no spaces, non-ASCII characters as is), padded with spaces to a
 *   multiple of 8 bytes as the reference implementation does;
 * - values little-endian, bit for bit as given (NaN payloads and −0 included).
 * aicert reads these files with its strict parser (src/measure/formats/safetensors.ts).
 */

const F32_BYTES = 4;
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

type HeaderEntry = { dtype: 'F32'; shape: number[]; data_offsets: [number, number] };

/**
 * The header as compact JSON, members in the given order. Written by hand rather than with
 * JSON.stringify of an object: an object would move integer-like names ("2" before "10") ahead of
 * the rest, whatever the insertion order, and treats "__proto__" specially.
 */
function headerJson(entries: ReadonlyArray<readonly [string, HeaderEntry]>): string {
  return `{${entries.map(([name, entry]) => `${JSON.stringify(name)}:${JSON.stringify(entry)}`).join(',')}}`;
}

export function encodeF32Safetensors(tensors: Checkpoint): Buffer {
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
    if (dtype !== 'F32' || !(data instanceof Float32Array))
      throw new InputError('safetensors.bad-dtype', `tensor "${name}" must be F32 data in a Float32Array`);
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0) || shape.reduce((p, d) => p * d, 1) !== data.length) {
      throw new InputError(
        'safetensors.bad-shape',
        `tensor "${name}" has shape [${shape.join(', ')}] but ${data.length} values`,
      );
    }
    header.push([name, { dtype: 'F32', shape: [...shape], data_offsets: [offset, offset + data.length * F32_BYTES] }]);
    offset += data.length * F32_BYTES;
  }
  const json = Buffer.from(headerJson(header), 'utf8');
  const headerLength = Math.ceil(json.length / HEADER_ALIGNMENT) * HEADER_ALIGNMENT;
  const file = Buffer.alloc(8 + headerLength + offset, 0x20); // header padding: spaces
  file.writeBigUInt64LE(BigInt(headerLength), 0);
  json.copy(file, 8);
  let position = 8 + headerLength;
  for (const name of names) {
    const { data } = tensors.get(name)!;
    if (LITTLE_ENDIAN_HOST) {
      Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(file, position);
    } else {
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      for (let i = 0; i < data.length; i++) file.writeUInt32LE(view.getUint32(4 * i, false), position + 4 * i);
    }
    position += data.byteLength;
  }
  return file;
}
