/**
 * Writes float32 tensors in the safetensors format (huggingface/safetensors): an 8-byte
 * little-endian header length N, N bytes of JSON mapping each tensor name to
 * {dtype, shape, data_offsets}, then the tensors' bytes back to back. Tensors are laid out sorted
 * by name, as the reference implementation does for tensors of one dtype, so the same weights
 * always give the same file bytes. aicert reads these files with its strict parser
 * (src/measure/formats/safetensors.ts).
 */

export interface NamedTensor {
  name: string;
  shape: readonly number[];
  data: Float32Array;
}

const F32_BYTES = 4;
/** The reference implementation pads the header with spaces so the data starts 8-byte aligned. */
const HEADER_ALIGNMENT = 8;

export function encodeSafetensors(tensors: readonly NamedTensor[]): Buffer {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, { dtype: 'F32'; shape: number[]; data_offsets: [number, number] }> = {};
  let offset = 0;
  for (const { name, shape, data } of sorted) {
    if (name === '' || name === '__metadata__' || Object.hasOwn(header, name)) {
      throw new Error(`safetensors: tensor name ${JSON.stringify(name)} is empty, reserved or repeated`);
    }
    const elements = shape.reduce((product, dim) => product * dim, 1);
    if (elements !== data.length) {
      throw new Error(`safetensors: tensor "${name}" has shape [${shape.join(', ')}] but ${data.length} values`);
    }
    header[name] = { dtype: 'F32', shape: [...shape], data_offsets: [offset, offset + data.length * F32_BYTES] };
    offset += data.length * F32_BYTES;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const headerLength = Math.ceil(json.length / HEADER_ALIGNMENT) * HEADER_ALIGNMENT;
  const file = Buffer.alloc(8 + headerLength + offset, 0x20); // header padding: spaces
  file.writeBigUInt64LE(BigInt(headerLength), 0);
  json.copy(file, 8);
  let position = 8 + headerLength;
  for (const { data } of sorted) {
    for (const value of data) {
      file.writeFloatLE(value, position); // explicit little-endian, whatever the host's byte order
      position += F32_BYTES;
    }
  }
  return file;
}
