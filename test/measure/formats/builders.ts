/**
 * Writers of small, real model files for the format tests: safetensors, GGUF and ONNX bytes are
 * built here from their specifications, so tests need no downloads and can corrupt any field.
 */

// ---------------------------------------------------------------- safetensors

export interface StTensor {
  name: string;
  dtype: string;
  shape: number[];
  /** Tensor bytes; their length decides data_offsets. */
  data: Buffer;
}

/** The header object a well-formed file of these tensors has (offsets laid out in order). */
export function safetensorsHeader(tensors: StTensor[], metadata?: Record<string, string>): Record<string, unknown> {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  return header;
}

/** 8-byte LE length ‖ header text ‖ data. `headerLength` overrides the length field. */
export function safetensorsFile(headerText: string | Buffer, data: Buffer, headerLength?: bigint): Buffer {
  const header = typeof headerText === 'string' ? Buffer.from(headerText, 'utf8') : headerText;
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(headerLength ?? BigInt(header.length));
  return Buffer.concat([length, header, data]);
}

export function safetensorsOf(tensors: StTensor[], metadata?: Record<string, string>): Buffer {
  return safetensorsFile(
    JSON.stringify(safetensorsHeader(tensors, metadata)),
    Buffer.concat(tensors.map((t) => t.data)),
  );
}

// ---------------------------------------------------------------- GGUF

export type GgufValue =
  | { type: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64'; value: number }
  | { type: 'u64' | 'i64'; value: bigint }
  | { type: 'bool'; value: boolean | number }
  | { type: 'string'; value: string }
  | { type: 'array'; elementType: 'string'; value: string[] }
  | { type: 'array'; elementType: 'u32' | 'f32'; value: number[] };

const GGUF_TYPE_IDS = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
};

export interface GgufTensorSpec {
  name: string;
  dims: number[];
  /** ggml type id (0 F32, 1 F16, 2 Q4_0, 8 Q8_0, ...). */
  type: number;
  data: Buffer;
  /** Overrides the offset written (default: laid out in order with alignment padding). */
  offset?: bigint;
}

export interface GgufSpec {
  version?: number;
  kv?: Array<[string, GgufValue]>;
  tensors?: GgufTensorSpec[];
  alignment?: number;
  /** Overrides the counts written. */
  tensorCount?: bigint;
  kvCount?: bigint;
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u64 = (n: bigint | number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};
const ggufString = (s: string) => Buffer.concat([u64(Buffer.byteLength(s)), Buffer.from(s, 'utf8')]);

function scalar(type: string, value: number | bigint | boolean): Buffer {
  const b = Buffer.alloc(8);
  switch (type) {
    case 'u8':
      b.writeUInt8(Number(value));
      return b.subarray(0, 1);
    case 'i8':
      b.writeInt8(Number(value));
      return b.subarray(0, 1);
    case 'bool':
      b.writeUInt8(Number(value));
      return b.subarray(0, 1);
    case 'u16':
      b.writeUInt16LE(Number(value));
      return b.subarray(0, 2);
    case 'i16':
      b.writeInt16LE(Number(value));
      return b.subarray(0, 2);
    case 'u32':
      b.writeUInt32LE(Number(value));
      return b.subarray(0, 4);
    case 'i32':
      b.writeInt32LE(Number(value));
      return b.subarray(0, 4);
    case 'f32':
      b.writeFloatLE(Number(value));
      return b.subarray(0, 4);
    case 'u64':
      b.writeBigUInt64LE(BigInt(value));
      return b;
    case 'i64':
      b.writeBigInt64LE(BigInt(value));
      return b;
    default:
      b.writeDoubleLE(Number(value));
      return b;
  }
}

function ggufValue(v: GgufValue): Buffer {
  if (v.type === 'string') return ggufString(v.value);
  if (v.type === 'array') {
    const items = v.value.map((item) => (typeof item === 'string' ? ggufString(item) : scalar(v.elementType, item)));
    return Buffer.concat([u32(GGUF_TYPE_IDS[v.elementType]), u64(v.value.length), ...items]);
  }
  return scalar(v.type, v.value);
}

export function ggufFile(spec: GgufSpec): Buffer {
  const alignment = spec.alignment ?? 32;
  const kv = [...(spec.kv ?? [])];
  if (spec.alignment !== undefined) kv.push(['general.alignment', { type: 'u32', value: spec.alignment }]);
  const tensors = spec.tensors ?? [];
  const parts: Buffer[] = [
    Buffer.from('GGUF', 'latin1'),
    u32(spec.version ?? 3),
    u64(spec.tensorCount ?? BigInt(tensors.length)),
    u64(spec.kvCount ?? BigInt(kv.length)),
  ];
  for (const [key, value] of kv) parts.push(ggufString(key), u32(GGUF_TYPE_IDS[value.type]), ggufValue(value));
  let offset = 0;
  const data: Buffer[] = [];
  for (const t of tensors) {
    parts.push(
      ggufString(t.name),
      u32(t.dims.length),
      ...t.dims.map((d) => u64(d)),
      u32(t.type),
      u64(t.offset ?? BigInt(offset)),
    );
    const padded = Math.ceil(t.data.length / alignment) * alignment;
    data.push(t.data, Buffer.alloc(padded - t.data.length));
    offset += padded;
  }
  const header = Buffer.concat(parts);
  const pad = Buffer.alloc(Math.ceil(header.length / alignment) * alignment - header.length);
  return Buffer.concat([header, pad, ...data]);
}

// ---------------------------------------------------------------- ONNX (protobuf)

/** A protobuf field: varint, length-delimited bytes/message, or a raw pre-encoded value. */
export type PbField = [field: number, value: number | bigint | string | Buffer | PbField[]];

function varint(n: number | bigint): Buffer {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return Buffer.from(out);
}

/** Encodes fields: numbers as varints, strings/Buffers/nested field lists as length-delimited. */
export function pb(fields: PbField[]): Buffer {
  return Buffer.concat(
    fields.map(([field, value]) => {
      if (typeof value === 'number' || typeof value === 'bigint')
        return Buffer.concat([varint((field << 3) | 0), varint(value)]);
      const body = Array.isArray(value) ? pb(value) : typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
      return Buffer.concat([varint((field << 3) | 2), varint(body.length), body]);
    }),
  );
}

export interface OnnxTensorSpec {
  name: string;
  dims: number[];
  dataType: number;
  raw?: Buffer;
  external?: Array<[string, string]>;
  /** data_location; defaults to EXTERNAL (1) when `external` is given. */
  dataLocation?: number;
}

export function onnxTensor(t: OnnxTensorSpec): PbField[] {
  const fields: PbField[] = [...t.dims.map((d): PbField => [1, d]), [2, t.dataType], [8, t.name]];
  if (t.raw) fields.push([9, t.raw]);
  for (const [key, value] of t.external ?? [])
    fields.push([
      13,
      [
        [1, key],
        [2, value],
      ],
    ]);
  const location = t.dataLocation ?? (t.external ? 1 : undefined);
  if (location !== undefined) fields.push([14, location]);
  return fields;
}

/** ModelProto{ir_version 9, producer "aicert-test", graph{initializers, nodes}}. */
export function onnxModel(initializers: OnnxTensorSpec[], extraGraphFields: PbField[] = []): Buffer {
  return pb([
    [1, 9],
    [2, 'aicert-test'],
    [7, [...initializers.map((t): PbField => [5, onnxTensor(t)]), ...extraGraphFields]],
  ]);
}
