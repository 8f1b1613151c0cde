import { InputError } from '../../errors.js';
import { FileCursor } from './file-cursor.js';
import { withModelFile } from './open-model-file.js';
import type { FileTensor } from './model-description.js';
import { isPlainObject, type JsonProblem } from '../../util/strict-json.js';
import { JsonMemberReader } from './json-member-reader.js';

/**
 * safetensors (huggingface/safetensors): an 8-byte little-endian header length N, N bytes of
 * UTF-8 JSON, then the data buffer. The header maps tensor names to {dtype, shape, data_offsets}
 * (offsets relative to the buffer) plus an optional `__metadata__` string→string map. We apply
 * the format's own rules strictly: the buffer is covered exactly, in order, with no gaps or
 * overlaps, and each tensor's byte length is its element count times its dtype size.
 */

/** The reference implementation's MAX_HEADER_SIZE. */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

/** Bits per element of each dtype the format defines. */
export const SAFETENSORS_DTYPE_BITS: Readonly<Record<string, number>> = {
  BOOL: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F8_E4M3FNUZ: 8,
  F8_E5M2FNUZ: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  C64: 64,
  F64: 64,
  I64: 64,
  U64: 64,
};

export type SafetensorsTensor = FileTensor;

export interface SafetensorsHeader {
  fileSize: number;
  headerLength: number;
  /** Absolute offset of the data buffer: 8 + headerLength. */
  dataStart: number;
  metadata: Record<string, string>;
  /** In data order. */
  tensors: SafetensorsTensor[];
}

const METADATA_KEY = '__metadata__';
const TENSOR_KEYS = ['data_offsets', 'dtype', 'shape'];
const HEADER_PROBLEM_CODES: Readonly<Record<JsonProblem, string>> = {
  'not-utf8': 'header-not-utf8',
  'not-json': 'header-not-json',
  'not-object': 'header-not-json',
  'duplicate-key': 'duplicate-key',
};

/** As for GGUF and ONNX; the largest published checkpoints hold a few thousand per file. */
export const SAFETENSORS_MAX_TENSORS = 1_000_000;

export interface SafetensorsReadOptions {
  /**
   * Keep every tensor's description (the default). A format check passes false: every tensor is
   * still checked, but only its name and byte range stay, for the layout check.
   */
  keepTensors?: boolean;
}

function fail(code: string, path: string, message: string): InputError {
  return new InputError(`safetensors.${code}`, `${path}: ${message}`);
}

/**
 * Parses and checks the header of the safetensors file at `path`; reads only the header. Memory:
 * the header's bytes, then per tensor its name and byte range (and its description when kept);
 * the JSON is read member by member (json-member-reader.ts), never built as one document.
 */
export function readSafetensorsHeader(path: string, options: SafetensorsReadOptions = {}): SafetensorsHeader {
  return withModelFile(path, 'safetensors', ({ fd, size }) => {
    const cursor = new FileCursor(fd, 0, size, (what) => fail('truncated', path, `the file ends inside the ${what}`));
    const declared = cursor.u64('8-byte header length');
    if (declared > BigInt(SAFETENSORS_MAX_HEADER_BYTES)) {
      throw fail(
        'header-too-large',
        path,
        `header length ${declared} exceeds the ${SAFETENSORS_MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`,
      );
    }
    const headerLength = Number(declared);
    if (headerLength > cursor.remaining) {
      throw fail('header-past-end', path, `header length ${headerLength} runs past the end of the ${size}-byte file`);
    }
    const bytes = cursor.bytes(headerLength, 'header');
    // The format demands the JSON start right away (padding is allowed only at the end).
    if (bytes[0] !== 0x7b /* { */) throw fail('header-not-json', path, 'the header does not start with "{"');
    return readHeader(bytes, path, size, options.keepTensors ?? true);
  });
}

function readHeader(bytes: Buffer, path: string, fileSize: number, keepTensors: boolean): SafetensorsHeader {
  const headerLength = bytes.length;
  const dataStart = 8 + headerLength;
  const layout = new TensorLayout();
  const tensors: SafetensorsTensor[] = [];
  let metadata: Record<string, string> = {};
  const reader = new JsonMemberReader(bytes, (problem, detail) =>
    fail(HEADER_PROBLEM_CODES[problem], path, `the header: ${detail}`),
  );
  reader.readObject((name) => {
    const value = reader.value();
    if (name === METADATA_KEY) {
      metadata = checkMetadata(value, path);
      return;
    }
    if (layout.count >= SAFETENSORS_MAX_TENSORS)
      throw fail('too-many-tensors', path, `more than ${SAFETENSORS_MAX_TENSORS} tensors`);
    const tensor = checkTensor(name, value, path, dataStart);
    layout.add(tensor.name, tensor.start, tensor.end);
    if (keepTensors) tensors.push(tensor);
  });
  layout.check(path, dataStart, fileSize);
  tensors.sort((a, b) => a.start - b.start || a.end - b.end);
  return { fileSize, headerLength, dataStart, metadata, tensors };
}

/**
 * The tensors' byte ranges, kept compactly (a name and two numbers each) for the layout rule:
 * sorted by offset, they cover the data buffer exactly once, in order.
 */
class TensorLayout {
  private readonly names: string[] = [];
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];

  get count(): number {
    return this.names.length;
  }

  add(name: string, start: number, end: number): void {
    this.names.push(name);
    this.starts.push(start);
    this.ends.push(end);
  }

  check(path: string, dataStart: number, dataEnd: number): void {
    const { names, starts, ends } = this;
    const order = Uint32Array.from(names.keys()).sort((a, b) => starts[a]! - starts[b]! || ends[a]! - ends[b]!);
    // The buffer must be covered exactly once, in order: each tensor starts where the last ended.
    let expected = dataStart;
    for (const i of order) {
      const name = names[i]!;
      if (starts[i]! < expected) {
        throw fail('overlapping-tensors', path, `tensor "${name}" overlaps the tensor before it`);
      }
      if (starts[i]! > expected) {
        throw fail(
          'gap-between-tensors',
          path,
          `${starts[i]! - expected} bytes before tensor "${name}" belong to no tensor`,
        );
      }
      if (ends[i]! > dataEnd) throw fail('tensor-past-end', path, `tensor "${name}" runs past the end of the file`);
      expected = ends[i]!;
    }
    if (expected !== dataEnd) {
      throw fail('unclaimed-bytes', path, `the last ${dataEnd - expected} bytes of the file belong to no tensor`);
    }
  }
}

function checkMetadata(value: unknown, path: string): Record<string, string> {
  if (!isPlainObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw fail('bad-metadata', path, `"${METADATA_KEY}" must be an object of string values`);
  }
  return value as Record<string, string>;
}

function checkTensor(name: string, entry: unknown, path: string, dataStart: number): SafetensorsTensor {
  const what = `tensor "${name}"`;
  if (!isPlainObject(entry) || Object.keys(entry).sort().join() !== TENSOR_KEYS.join()) {
    throw fail('bad-tensor-entry', path, `${what} must be an object with exactly ${TENSOR_KEYS.join(', ')}`);
  }
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string' || !Object.hasOwn(SAFETENSORS_DTYPE_BITS, dtype)) {
    throw fail('unknown-dtype', path, `${what} has unknown dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw fail('bad-shape', path, `${what} has a shape that is not a list of non-negative integers`);
  }
  const [begin, end] = Array.isArray(offsets) && offsets.length === 2 ? (offsets as unknown[]) : [];
  if (!isCount(begin) || !isCount(end) || begin > end) {
    throw fail('bad-offsets', path, `${what} has data_offsets that are not [begin, end] with begin ≤ end`);
  }
  const elements = shape.reduce<bigint>((product, dim: number) => product * BigInt(dim), 1n);
  const bits = elements * BigInt(SAFETENSORS_DTYPE_BITS[dtype]!);
  if (bits % 8n !== 0n || bits / 8n !== BigInt(end - begin)) {
    throw fail(
      'size-mismatch',
      path,
      `${what}: shape [${shape.join(', ')}] of ${dtype} needs ${bits / 8n}${bits % 8n ? '+' : ''} bytes, ` +
        `data_offsets give ${end - begin}`,
    );
  }
  // elements ≤ 8 × (end − begin), a safe integer, whenever the size check passed. The dtype is
  // the table's own string (one per dtype, not one per tensor).
  const dtypeName = DTYPE_NAMES.get(dtype)!;
  return {
    name,
    dtype: dtypeName,
    shape,
    parameters: Number(elements),
    start: dataStart + begin,
    end: dataStart + end,
  };
}

const DTYPE_NAMES: ReadonlyMap<string, string> = new Map(Object.keys(SAFETENSORS_DTYPE_BITS).map((d) => [d, d]));

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
