import { basename, dirname } from 'node:path';
import { InputError } from '../../errors.js';
import { compareNames } from '../manifest.js';
import { FileCursor } from './file-cursor.js';
import { withModelFile } from './open-model-file.js';
import { ProtobufReader, WireType, type FieldVisitor } from './protobuf-reader.js';
import { resolveReferencedFile, type ReferencedFile } from './referenced-file.js';

/**
 * ONNX (a protobuf ModelProto). Models over protobuf's 2 GB limit keep tensor bytes in external
 * files: a TensorProto with data_location = EXTERNAL and external_data entries `location`
 * (a path relative to the model's directory), `offset`, `length` and `checksum`
 * (onnx.ai ExternalData). We walk every place a TensorProto can sit (graph initializers, sparse
 * initializers, node attributes, subgraphs, training graphs, functions) and check each external
 * reference: the location stays inside the model directory, the file exists, and the byte range
 * lies inside it and has the size the tensor's type and shape need.
 *
 * Field numbers are those of onnx/onnx.proto3.
 */

const ModelField = { irVersion: 1, producerName: 2, producerVersion: 3, graph: 7, trainingInfo: 20, functions: 25 };
const GraphField = { node: 1, initializer: 5, sparseInitializer: 15 };
const NodeField = { attribute: 5 };
const AttributeField = { t: 5, g: 6, tensors: 10, graphs: 11, sparseTensor: 22, sparseTensors: 23 };
const SparseTensorField = { values: 1, indices: 2 };
const TrainingInfoField = { initialization: 1, algorithm: 2 };
const FunctionField = { node: 7 };
const TensorField = { dims: 1, dataType: 2, name: 8, rawData: 9, externalData: 13, dataLocation: 14 };
const EntryField = { key: 1, value: 2 };
const DATA_LOCATION_EXTERNAL = 1;

/** TensorProto.DataType: name and bits per element (0 for STRING, which has no fixed size). */
const DATA_TYPES: ReadonlyMap<number, { name: string; bits: number }> = new Map(
  (
    [
      [1, 'FLOAT', 32],
      [2, 'UINT8', 8],
      [3, 'INT8', 8],
      [4, 'UINT16', 16],
      [5, 'INT16', 16],
      [6, 'INT32', 32],
      [7, 'INT64', 64],
      [8, 'STRING', 0],
      [9, 'BOOL', 8],
      [10, 'FLOAT16', 16],
      [11, 'DOUBLE', 64],
      [12, 'UINT32', 32],
      [13, 'UINT64', 64],
      [14, 'COMPLEX64', 64],
      [15, 'COMPLEX128', 128],
      [16, 'BFLOAT16', 16],
      [17, 'FLOAT8E4M3FN', 8],
      [18, 'FLOAT8E4M3FNUZ', 8],
      [19, 'FLOAT8E5M2', 8],
      [20, 'FLOAT8E5M2FNUZ', 8],
      [21, 'UINT4', 4],
      [22, 'INT4', 4],
      [23, 'FLOAT4E2M1', 4],
      [24, 'FLOAT8E8M0', 8],
    ] as const
  ).map(([id, name, bits]) => [id, { name, bits }]),
);

const EXTERNAL_DATA_KEYS = new Set(['location', 'offset', 'length', 'checksum']);
const MAX_NAME_BYTES = 64 * 1024;
const MAX_RANK = 64;
export const ONNX_MAX_TENSORS = 1_000_000;

export interface OnnxTensor {
  name: string;
  dtype: string;
  shape: number[];
  parameters: number;
  /**
   * Where the tensor's bytes are: an external file (`file` relative to the model's directory) or
   * the model file itself (raw_data); null for data in typed fields (float_data, ...).
   */
  location: { external: boolean; file: string; path: string; start: number; end: number } | null;
}

export interface OnnxModel {
  fileSize: number;
  metadata: Record<string, string>;
  tensors: OnnxTensor[];
  /** External data files referenced (names relative to the model's directory), sorted by name. */
  externalFiles: ReferencedFile[];
}

/** One TensorProto while it is read: checked and described when its message ends, then dropped. */
interface RawTensor {
  name: string;
  dataType: number;
  dims: bigint[];
  rawData?: { start: number; end: number };
  /** At most one value per known key (EXTERNAL_DATA_KEYS), checked as the entries are read. */
  externalData: Map<string, string>;
  dataLocation: number;
}

export interface OnnxReadOptions {
  allowSymlinks: boolean;
  /**
   * Keep every tensor's description (the default). A format check passes false: each tensor is
   * still checked, but then dropped, so memory does not grow with the tensor count.
   */
  keepTensors?: boolean;
}

function fail(code: string, path: string, message: string): InputError {
  return new InputError(`onnx.${code}`, `${path}: ${message}`);
}

/**
 * Parses the ONNX model at `path` and checks every tensor and external-data reference. Memory:
 * each tensor is checked when its message ends; what stays is its description (unless
 * `keepTensors` is false), the external files, and the message stack (at most 64 deep).
 */
export function readOnnxModel(path: string, { allowSymlinks, keepTensors = true }: OnnxReadOptions): OnnxModel {
  const externalFiles = new ExternalFiles(dirname(path), allowSymlinks);
  const tensors: OnnxTensor[] = [];
  const model = { file: basename(path), path };
  const { fileSize, metadata } = withModelFile(path, 'onnx', ({ fd, size }) => {
    const cursor = new FileCursor(fd, 0, size, (what) => fail('truncated', path, `the file ends inside a ${what}`));
    const reader = new ProtobufReader(cursor, (message) => fail('malformed', path, message));
    const onTensor = (raw: RawTensor) => {
      const tensor = describeTensor(raw, model, externalFiles);
      if (keepTensors) tensors.push(tensor);
    };
    return { fileSize: size, metadata: new TensorCollector(reader, path, onTensor).collect() };
  });
  return { fileSize, metadata, tensors, externalFiles: externalFiles.list() };
}

/** External data files, each resolved (and checked) once however many tensors it holds. */
class ExternalFiles {
  private readonly resolved = new Map<string, ReferencedFile>();

  constructor(
    private readonly directory: string,
    private readonly allowSymlinks: boolean,
  ) {}

  get(location: string): ReferencedFile {
    let file = this.resolved.get(location);
    if (!file) {
      file = resolveReferencedFile(this.directory, location, {
        format: 'onnx',
        allowSymlinks: this.allowSymlinks,
        plainName: false,
      });
      this.resolved.set(location, file);
    }
    return file;
  }

  list(): ReferencedFile[] {
    return [...this.resolved.values()].sort((a, b) => compareNames(a.name, b.name));
  }
}

/** Walks the protobuf and hands every TensorProto to `onTensor` when its message ends. */
class TensorCollector {
  private readonly metadata: Record<string, string> = {};
  private tensorCount = 0;

  constructor(
    private readonly reader: ProtobufReader,
    private readonly path: string,
    private readonly onTensor: (tensor: RawTensor) => void,
  ) {}

  /** Returns the model's metadata. */
  collect(): Record<string, string> {
    const r = this.reader;
    r.readTopLevel((field, wire) => {
      switch (field) {
        case ModelField.irVersion:
          r.expect(wire, WireType.Varint, 'ir_version');
          this.metadata.ir_version = String(r.varint('ir_version'));
          return true;
        case ModelField.producerName:
        case ModelField.producerVersion: {
          const key = field === ModelField.producerName ? 'producer_name' : 'producer_version';
          r.expect(wire, WireType.LengthDelimited, key);
          this.metadata[key] = r.string(key, MAX_NAME_BYTES);
          return true;
        }
        case ModelField.graph:
          return this.embedded(wire, 'graph', this.graph);
        case ModelField.trainingInfo:
          return this.embedded(wire, 'training_info', (f, w) =>
            f === TrainingInfoField.initialization || f === TrainingInfoField.algorithm
              ? this.embedded(w, 'training graph', this.graph)
              : false,
          );
        case ModelField.functions:
          return this.embedded(
            wire,
            'function',
            (f, w) => f === FunctionField.node && this.embedded(w, 'node', this.node),
          );
        default:
          return false;
      }
    });
    return this.metadata;
  }

  private readonly graph: FieldVisitor = (field, wire) => {
    if (field === GraphField.node) return this.embedded(wire, 'node', this.node);
    if (field === GraphField.initializer) return this.tensor(wire, 'initializer');
    if (field === GraphField.sparseInitializer) return this.embedded(wire, 'sparse initializer', this.sparseTensor);
    return false;
  };

  private readonly node: FieldVisitor = (field, wire) =>
    field === NodeField.attribute && this.embedded(wire, 'attribute', this.attribute);

  private readonly attribute: FieldVisitor = (field, wire) => {
    switch (field) {
      case AttributeField.t:
      case AttributeField.tensors:
        return this.tensor(wire, 'attribute tensor');
      case AttributeField.g:
      case AttributeField.graphs:
        return this.embedded(wire, 'subgraph', this.graph);
      case AttributeField.sparseTensor:
      case AttributeField.sparseTensors:
        return this.embedded(wire, 'sparse tensor', this.sparseTensor);
      default:
        return false;
    }
  };

  private readonly sparseTensor: FieldVisitor = (field, wire) =>
    (field === SparseTensorField.values || field === SparseTensorField.indices) &&
    this.tensor(wire, 'sparse tensor part');

  /** Reads one TensorProto (the current field) and hands it on when its message ends. */
  private tensor(wire: WireType, what: string): boolean {
    if (++this.tensorCount > ONNX_MAX_TENSORS) {
      throw fail('too-many-tensors', this.path, `more than ${ONNX_MAX_TENSORS} tensors`);
    }
    const tensor: RawTensor = { name: '', dataType: 0, dims: [], externalData: new Map(), dataLocation: 0 };
    this.embedded(wire, what, this.tensorFields(tensor));
    this.onTensor(tensor);
    return true;
  }

  private tensorFields(tensor: RawTensor): FieldVisitor {
    const r = this.reader;
    return (field, wire) => {
      switch (field) {
        case TensorField.dims:
          r.repeatedVarint(wire, 'dims', (dim) => {
            if (tensor.dims.length >= MAX_RANK)
              throw fail('bad-tensor', this.path, `a tensor has more than ${MAX_RANK} dims`);
            tensor.dims.push(BigInt.asIntN(64, dim));
          });
          return true;
        case TensorField.dataType:
          r.expect(wire, WireType.Varint, 'data_type');
          tensor.dataType = r.uint('data_type');
          return true;
        case TensorField.name:
          r.expect(wire, WireType.LengthDelimited, 'tensor name');
          tensor.name = r.string('tensor name', MAX_NAME_BYTES);
          return true;
        case TensorField.rawData:
          r.expect(wire, WireType.LengthDelimited, 'raw_data');
          tensor.rawData = r.lengthDelimited('raw_data');
          return true;
        case TensorField.dataLocation:
          r.expect(wire, WireType.Varint, 'data_location');
          tensor.dataLocation = r.uint('data_location');
          return true;
        case TensorField.externalData: {
          let key = '';
          let value = '';
          this.embedded(wire, 'external_data entry', (f, w) => {
            if (f !== EntryField.key && f !== EntryField.value) return false;
            r.expect(w, WireType.LengthDelimited, 'external_data entry');
            const text = r.string('external_data entry', MAX_NAME_BYTES);
            if (f === EntryField.key) key = text;
            else value = text;
            return true;
          });
          // Checked here, not when the tensor ends, so that a tensor holds at most four entries.
          const what = `tensor "${tensor.name}"`;
          if (!EXTERNAL_DATA_KEYS.has(key))
            throw fail('bad-external-data', this.path, `${what} has unknown external_data key "${key}"`);
          if (tensor.externalData.has(key))
            throw fail('bad-external-data', this.path, `${what} repeats external_data key "${key}"`);
          tensor.externalData.set(key, value);
          return true;
        }
        default:
          return false;
      }
    };
  }

  private embedded(wire: WireType, what: string, visit: FieldVisitor): boolean {
    this.reader.expect(wire, WireType.LengthDelimited, what);
    this.reader.readMessage(visit);
    return true;
  }
}

/** Checks a tensor read in full and describes it; `model` is the model file (shared, not copied per tensor). */
function describeTensor(
  tensor: RawTensor,
  model: { file: string; path: string },
  externalFiles: ExternalFiles,
): OnnxTensor {
  const { path } = model;
  const what = `tensor "${tensor.name}"`;
  const type = DATA_TYPES.get(tensor.dataType);
  if (!type) throw fail('unknown-data-type', path, `${what} has unknown data_type ${tensor.dataType}`);
  if (tensor.dims.some((dim) => dim < 0n)) throw fail('bad-tensor', path, `${what} has a negative dimension`);
  const elements = tensor.dims.reduce((product, dim) => product * dim, 1n);
  if (elements > BigInt(Number.MAX_SAFE_INTEGER)) throw fail('bad-tensor', path, `${what} has too many elements`);
  // Sub-byte types are packed two (or more) to a byte, the last byte padded.
  const bytes = type.bits === 0 ? undefined : Number((elements * BigInt(type.bits) + 7n) / 8n);
  // Built as object literals, not by spreading a base object: a spread copy costs three times
  // the memory in V8 (403 against 131 bytes per tensor, measured), and a model has a million.
  const described = (location: OnnxTensor['location']): OnnxTensor => ({
    name: tensor.name,
    dtype: type.name,
    shape: tensor.dims.map(Number),
    parameters: Number(elements),
    location,
  });

  const external = tensor.dataLocation === DATA_LOCATION_EXTERNAL;
  if (!external) {
    if (tensor.externalData.size > 0) {
      throw fail('bad-external-data', path, `${what} has external_data entries but data_location is not EXTERNAL`);
    }
    if (!tensor.rawData) return described(null);
    const { start, end } = tensor.rawData;
    if (bytes !== undefined && end - start !== bytes) {
      throw fail('size-mismatch', path, `${what} needs ${bytes} bytes of raw_data, has ${end - start}`);
    }
    return described({ external: false, file: model.file, path, start, end });
  }

  if (tensor.rawData) throw fail('bad-external-data', path, `${what} is EXTERNAL but also has raw_data`);
  if (bytes === undefined) throw fail('bad-external-data', path, `${what}: STRING tensors cannot be stored externally`);
  const entries = tensor.externalData;
  const location = entries.get('location');
  if (location === undefined) throw fail('bad-external-data', path, `${what} is EXTERNAL but has no location`);
  const file = externalFiles.get(location);
  const offset = decimal(entries.get('offset') ?? '0', `${what} offset`, path);
  const length = entries.has('length') ? decimal(entries.get('length')!, `${what} length`, path) : bytes;
  if (length !== bytes) {
    throw fail('size-mismatch', path, `${what} needs ${bytes} bytes; its external_data length is ${length}`);
  }
  if (offset > file.size || length > file.size - offset) {
    throw fail(
      'external-range',
      path,
      `${what} lies at bytes [${offset}, ${offset + length}) of ${location}, which has only ${file.size} bytes`,
    );
  }
  // file.name: one string per external file, however many tensors it holds.
  return described({ external: true, file: file.name, path: file.path, start: offset, end: offset + length });
}

function decimal(text: string, what: string, path: string): number {
  const value = /^[0-9]{1,16}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value))
    throw fail('bad-external-data', path, `${what} "${text}" is not a decimal byte count`);
  return value;
}
