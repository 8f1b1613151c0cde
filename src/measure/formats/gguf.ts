import { InputError } from '../../errors.js';
import { FileCursor } from './file-cursor.js';
import { withModelFile } from './open-model-file.js';
import type { FileTensor } from './model-description.js';

/**
 * GGUF (ggml's model file, spec ggml/docs/gguf.md), versions 2 and 3, little-endian:
 *   "GGUF" u32 version, u64 tensor_count, u64 kv_count,
 *   kv_count × (string key, u32 value type, value),
 *   tensor_count × (string name, u32 n_dims, u64 dims[n_dims], u32 ggml type, u64 offset),
 *   padding to `general.alignment` (default 32), then the tensor data.
 * Strings are u64 length + UTF-8 bytes. Only the header is read; every count and length is
 * checked against what is left of the file and against fixed limits before it is used. The
 * tensor layout rules are llama.cpp's: each tensor starts at the aligned end of the one before
 * it (so tensors never overlap), and its bytes lie inside the file.
 */

/** Headers are tokenizer-heavy: ~10 MB for a 150k-token vocabulary; 128 MiB is a generous cap. */
export const GGUF_MAX_HEADER_BYTES = 128 * 1024 * 1024;
export const GGUF_MAX_TENSORS = 1_000_000;
export const GGUF_MAX_KV = 1_000_000;
/** GGUF keys are at most 65535 bytes (spec); ggml tensor names are below GGML_MAX_NAME = 64. */
const MAX_KEY_BYTES = 65_535;
const MAX_TENSOR_NAME_BYTES = 63;
const MAX_DIMS = 4;
const DEFAULT_ALIGNMENT = 32;
const MAGIC = Buffer.from('GGUF', 'latin1');
const INT64_MAX = (1n << 63n) - 1n;

/** ggml tensor types that GGUF files may hold: name, elements per block, bytes per block. */
const GGML_TYPES: ReadonlyMap<number, { name: string; blockElements: number; blockBytes: number }> = new Map(
  (
    [
      [0, 'F32', 1, 4],
      [1, 'F16', 1, 2],
      [2, 'Q4_0', 32, 18],
      [3, 'Q4_1', 32, 20],
      [6, 'Q5_0', 32, 22],
      [7, 'Q5_1', 32, 24],
      [8, 'Q8_0', 32, 34],
      [9, 'Q8_1', 32, 36],
      [10, 'Q2_K', 256, 84],
      [11, 'Q3_K', 256, 110],
      [12, 'Q4_K', 256, 144],
      [13, 'Q5_K', 256, 176],
      [14, 'Q6_K', 256, 210],
      [15, 'Q8_K', 256, 292],
      [16, 'IQ2_XXS', 256, 66],
      [17, 'IQ2_XS', 256, 74],
      [18, 'IQ3_XXS', 256, 98],
      [19, 'IQ1_S', 256, 50],
      [20, 'IQ4_NL', 32, 18],
      [21, 'IQ3_S', 256, 110],
      [22, 'IQ2_S', 256, 82],
      [23, 'IQ4_XS', 256, 136],
      [24, 'I8', 1, 1],
      [25, 'I16', 1, 2],
      [26, 'I32', 1, 4],
      [27, 'I64', 1, 8],
      [28, 'F64', 1, 8],
      [29, 'IQ1_M', 256, 56],
      [30, 'BF16', 1, 2],
      [34, 'TQ1_0', 256, 54],
      [35, 'TQ2_0', 256, 66],
      [39, 'MXFP4', 32, 17],
      [40, 'NVFP4', 64, 36],
    ] as const
  ).map(([id, name, blockElements, blockBytes]) => [id, { name, blockElements, blockBytes }]),
);

/** GGUF metadata value types. */
enum ValueType {
  Uint8 = 0,
  Int8 = 1,
  Uint16 = 2,
  Int16 = 3,
  Uint32 = 4,
  Int32 = 5,
  Float32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  Uint64 = 10,
  Int64 = 11,
  Float64 = 12,
}
const VALUE_TYPE_NAMES = [
  'uint8',
  'int8',
  'uint16',
  'int16',
  'uint32',
  'int32',
  'float32',
  'bool',
  'string',
  'array',
  'uint64',
  'int64',
  'float64',
];
const FIXED_VALUE_BYTES: Partial<Record<ValueType, number>> = {
  [ValueType.Uint8]: 1,
  [ValueType.Int8]: 1,
  [ValueType.Bool]: 1,
  [ValueType.Uint16]: 2,
  [ValueType.Int16]: 2,
  [ValueType.Uint32]: 4,
  [ValueType.Int32]: 4,
  [ValueType.Float32]: 4,
  [ValueType.Uint64]: 8,
  [ValueType.Int64]: 8,
  [ValueType.Float64]: 8,
};

/** dtype is the ggml type name (F16, Q4_K); shape is as GGUF stores it, innermost dimension first. */
export type GgufTensor = FileTensor;

export interface GgufHeader {
  fileSize: number;
  version: number;
  alignment: number;
  /** Absolute offset of the tensor data section. */
  dataStart: number;
  /** Scalar values as strings; arrays summarized as "[N × type]". */
  metadata: Record<string, string>;
  /** In file order. */
  tensors: GgufTensor[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function fail(code: string, path: string, message: string): InputError {
  return new InputError(`gguf.${code}`, `${path}: ${message}`);
}

export interface GgufReadOptions {
  /**
   * Keep every tensor's description and the metadata values (the default). A format check
   * passes false: everything is still checked, but only tensor names and ends and metadata keys
   * stay (for the duplicate and layout rules), so memory does not grow with the values.
   */
  keepTensors?: boolean;
}

/**
 * Parses and checks the header of the GGUF file at `path`; reads only the header. Memory: per
 * tensor its name and end (and its description when kept), per metadata key the key (and its
 * value as a string when kept); array values are skipped, never built.
 */
export function readGgufHeader(path: string, options: GgufReadOptions = {}): GgufHeader {
  return withModelFile(path, 'gguf', ({ fd, size }) => {
    const headerLimit = Math.min(size, GGUF_MAX_HEADER_BYTES);
    const cursor = new FileCursor(fd, 0, headerLimit, (what) =>
      headerLimit < size
        ? fail('header-too-large', path, `the header is larger than ${GGUF_MAX_HEADER_BYTES} bytes (at the ${what})`)
        : fail('truncated', path, `the file ends inside the ${what}`),
    );
    return new GgufParser(cursor, path, size, options.keepTensors ?? true).parse();
  });
}

class GgufParser {
  constructor(
    private readonly cursor: FileCursor,
    private readonly path: string,
    private readonly fileSize: number,
    private readonly keep: boolean,
  ) {}

  parse(): GgufHeader {
    const { cursor, path } = this;
    if (!cursor.bytes(4, 'magic').equals(MAGIC)) throw fail('bad-magic', path, 'not a GGUF file (no "GGUF" magic)');
    const version = cursor.u32('version');
    if (version !== 2 && version !== 3) {
      const hint = version > 0xffff ? ' (a big-endian file? only little-endian GGUF is supported)' : '';
      throw fail('unsupported-version', path, `GGUF version ${version} is not supported (2 and 3 are)${hint}`);
    }
    const tensorCount = this.count('tensor count', GGUF_MAX_TENSORS, 8 + 4 + 4 + 8);
    const kvCount = this.count('metadata count', GGUF_MAX_KV, 8 + 4 + 1);

    const metadata: Record<string, string> = {};
    const keys = new Set<string>();
    let alignment = DEFAULT_ALIGNMENT;
    for (let i = 0; i < kvCount; i++) {
      const key = this.string('metadata key', MAX_KEY_BYTES);
      if (keys.has(key)) throw fail('duplicate-key', path, `metadata key "${key}" appears twice`);
      keys.add(key);
      const type = this.valueType(`type of "${key}"`);
      let value: string;
      if (key === 'general.alignment') {
        if (type !== ValueType.Uint32) throw fail('bad-alignment', path, 'general.alignment must be a uint32');
        alignment = cursor.u32('general.alignment');
        if (alignment === 0 || (alignment & (alignment - 1)) !== 0) {
          throw fail('bad-alignment', path, `general.alignment ${alignment} is not a power of two`);
        }
        value = String(alignment);
      } else {
        value = this.value(type, key);
      }
      if (this.keep) defineOwn(metadata, key, value);
    }

    // One pass: each tensor's offset (relative to the data section) is checked against the
    // aligned end of the one before it as it is read; the data section's start, and so whether
    // the tensors fit in the file, is known only after the last tensor info.
    const tensors: GgufTensor[] = [];
    const names = new Set<string>();
    const ends: number[] = [];
    let expectedOffset = 0;
    for (let i = 0; i < tensorCount; i++) {
      const info = this.tensorInfo(alignment);
      if (names.has(info.name)) throw fail('duplicate-tensor', path, `tensor "${info.name}" appears twice`);
      names.add(info.name);
      if (info.offset !== expectedOffset) {
        throw fail(
          'bad-tensor-offset',
          path,
          `tensor "${info.name}" is at data offset ${info.offset}; the tensors before it end (aligned) at ${expectedOffset}`,
        );
      }
      ends.push(info.offset + info.bytes);
      if (this.keep) {
        tensors.push({
          name: info.name,
          dtype: info.dtype,
          shape: info.shape,
          parameters: info.parameters,
          start: info.offset,
          end: info.offset + info.bytes,
        });
      }
      expectedOffset = alignUp(info.offset + info.bytes, alignment);
    }
    const dataStart = alignUp(cursor.position, alignment);
    // Offsets only grow, so the first tensor past the end of the file is the first end past it.
    const past = ends.findIndex((end) => dataStart + end > this.fileSize);
    if (past >= 0) throw fail('tensor-past-end', path, `tensor "${[...names][past]}" runs past the end of the file`);
    for (const tensor of tensors) {
      tensor.start += dataStart;
      tensor.end += dataStart;
    }
    return { fileSize: this.fileSize, version, alignment, dataStart, metadata, tensors };
  }

  /** A u64 count bounded by `max` and by how many `minEntryBytes`-byte entries the file could hold. */
  private count(what: string, max: number, minEntryBytes: number): number {
    const value = this.cursor.u64(what);
    if (value > BigInt(max) || Number(value) * minEntryBytes > this.cursor.remaining) {
      throw fail('bad-count', this.path, `${what} ${value} is more than the file can hold (limit ${max})`);
    }
    return Number(value);
  }

  private string(what: string, maxBytes: number): string {
    const length = this.cursor.u64(`${what} length`);
    if (length > BigInt(maxBytes))
      throw fail('bad-string', this.path, `${what} is ${length} bytes; the limit is ${maxBytes}`);
    try {
      return utf8.decode(this.cursor.bytes(Number(length), what));
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw fail('bad-string', this.path, `${what} is not valid UTF-8`);
    }
  }

  private valueType(what: string): ValueType {
    const type = this.cursor.u32(what);
    if (type > ValueType.Float64) throw fail('bad-value-type', this.path, `${what} is ${type}, not a GGUF value type`);
    return type as ValueType;
  }

  /** Reads a value; scalars come back as strings, arrays as a summary (their elements are skipped). */
  private value(type: ValueType, key: string): string {
    const { cursor } = this;
    switch (type) {
      case ValueType.String:
        return this.string(`value of "${key}"`, cursor.remaining);
      case ValueType.Array:
        return this.array(key);
      case ValueType.Bool: {
        const byte = cursor.u8(`value of "${key}"`);
        if (byte > 1) throw fail('bad-value', this.path, `"${key}" is a bool with byte value ${byte}`);
        return byte === 1 ? 'true' : 'false';
      }
      default:
        return scalarToString(type, cursor.bytes(FIXED_VALUE_BYTES[type]!, `value of "${key}"`));
    }
  }

  private array(key: string): string {
    const { cursor } = this;
    const elementType = this.valueType(`element type of "${key}"`);
    if (elementType === ValueType.Array) throw fail('bad-value-type', this.path, `"${key}" is an array of arrays`);
    const length = cursor.u64(`length of "${key}"`);
    const minElementBytes = FIXED_VALUE_BYTES[elementType] ?? 8;
    if (length * BigInt(minElementBytes) > BigInt(cursor.remaining)) {
      throw fail('bad-count', this.path, `array "${key}" of ${length} elements is more than the file can hold`);
    }
    if (elementType === ValueType.String) {
      for (let i = 0n; i < length; i++) {
        cursor.skip(Number(cursor.u64(`element of "${key}"`)), `element of "${key}"`);
      }
    } else {
      cursor.skip(Number(length) * minElementBytes, `elements of "${key}"`);
    }
    return `[${length} × ${VALUE_TYPE_NAMES[elementType]}]`;
  }

  private tensorInfo(alignment: number) {
    const { cursor, path } = this;
    const name = this.string('tensor name', MAX_TENSOR_NAME_BYTES);
    const what = `tensor "${name}"`;
    const dimCount = cursor.u32(`dimension count of ${what}`);
    if (dimCount > MAX_DIMS) throw fail('bad-tensor', path, `${what} has ${dimCount} dimensions (at most ${MAX_DIMS})`);
    const dims = Array.from({ length: dimCount }, () => cursor.u64(`dimensions of ${what}`));
    const typeId = cursor.u32(`type of ${what}`);
    const type = GGML_TYPES.get(typeId);
    if (!type) throw fail('unknown-tensor-type', path, `${what} has ggml type ${typeId}, unknown to this aicert`);
    const offset = cursor.u64(`offset of ${what}`);

    const elements = dims.reduce((product, dim) => product * dim, 1n);
    if (dims.some((dim) => dim > INT64_MAX) || elements > INT64_MAX) {
      throw fail('bad-tensor', path, `${what} has more elements than ggml can address`);
    }
    const innermost = dims[0] ?? 1n;
    if (innermost % BigInt(type.blockElements) !== 0n) {
      throw fail(
        'bad-tensor',
        path,
        `${what}: ${type.name} needs the first dimension to be a multiple of ${type.blockElements}`,
      );
    }
    const bytes = (elements / BigInt(type.blockElements)) * BigInt(type.blockBytes);
    if (bytes > BigInt(this.fileSize) || offset > BigInt(this.fileSize)) {
      throw fail('tensor-past-end', path, `${what} (${bytes} bytes at offset ${offset}) cannot fit in the file`);
    }
    if (offset % BigInt(alignment) !== 0n) {
      throw fail('misaligned-tensor', path, `${what} offset ${offset} is not a multiple of the alignment ${alignment}`);
    }
    return {
      name,
      dtype: type.name,
      shape: dims.map(Number),
      parameters: Number(elements),
      offset: Number(offset),
      bytes: Number(bytes),
    };
  }
}

function scalarToString(type: ValueType, bytes: Buffer): string {
  switch (type) {
    case ValueType.Uint8:
      return String(bytes.readUInt8(0));
    case ValueType.Int8:
      return String(bytes.readInt8(0));
    case ValueType.Uint16:
      return String(bytes.readUInt16LE(0));
    case ValueType.Int16:
      return String(bytes.readInt16LE(0));
    case ValueType.Uint32:
      return String(bytes.readUInt32LE(0));
    case ValueType.Int32:
      return String(bytes.readInt32LE(0));
    case ValueType.Float32:
      return String(bytes.readFloatLE(0));
    case ValueType.Uint64:
      return String(bytes.readBigUInt64LE(0));
    case ValueType.Int64:
      return String(bytes.readBigInt64LE(0));
    default:
      return String(bytes.readDoubleLE(0));
  }
}

/** An own property, also for the key "__proto__" (which plain assignment would not make). */
function defineOwn(record: Record<string, string>, key: string, value: string): void {
  if (key === '__proto__')
    Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
  else record[key] = value;
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}
