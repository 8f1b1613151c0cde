import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { assertProperty } from '../../util/property.js';
import { InputError } from '../../../src/errors.js';
import { readOnnxModel } from '../../../src/measure/formats/onnx.js';
import { scratchDir } from '../helpers.js';
import { assertMutationsOf, parsesOrRefuses, throwsCode } from './parser-assertions.js';
import { onnxModel, onnxTensor, pb, type OnnxTensorSpec, type PbField } from './builders.js';

const root = scratchDir('onnx');
let counter = 0;

const FLOAT = 1;
const INT4 = 22;
const STRING = 8;
const weights = randomBytes(4096 + 64);

/** A model directory holding weights.bin, data/more.bin and model.onnx made of `bytes`. */
function modelDir(bytes: Buffer): string {
  const dir = join(root, `m${counter++}`);
  mkdirSync(join(dir, 'data'), { recursive: true });
  writeFileSync(join(dir, 'weights.bin'), weights);
  writeFileSync(join(dir, 'data', 'more.bin'), Buffer.alloc(100));
  const path = join(dir, 'model.onnx');
  writeFileSync(path, bytes);
  return path;
}

const external = (
  name: string,
  dims: number[],
  location: string,
  offset?: number,
  length?: number,
  dataType = FLOAT,
): OnnxTensorSpec => ({
  name,
  dims,
  dataType,
  external: [
    ['location', location],
    ...(offset === undefined ? [] : ([['offset', String(offset)]] as Array<[string, string]>)),
    ...(length === undefined ? [] : ([['length', String(length)]] as Array<[string, string]>)),
  ],
});

const read = (path: string, allowSymlinks = false) => readOnnxModel(path, { allowSymlinks });

describe('ONNX external data', () => {
  it('finds initializers inline and external, in subgraphs, node attributes and sparse initializers', () => {
    const inline = { name: 'bias', dims: [2], dataType: FLOAT, raw: randomBytes(8) };
    // An If node whose then_branch subgraph holds an initializer, and a Constant-like tensor attribute.
    const subgraph: PbField[] = [[5, onnxTensor(external('sub.w', [4], 'data/more.bin', 16, 16))]];
    const node: PbField[] = [
      [4, 'If'],
      [
        5,
        [
          [1, 'then_branch'],
          [6, subgraph],
        ],
      ],
      [
        5,
        [
          [1, 'value'],
          [5, onnxTensor(external('const.t', [2, 2], 'weights.bin', 4096, 16))],
        ],
      ],
    ];
    const sparse: PbField[] = [
      [1, onnxTensor(external('sparse.values', [3], 'weights.bin', 4096 + 16, 12))],
      [2, onnxTensor({ name: 'sparse.indices', dims: [3], dataType: 7, raw: Buffer.alloc(24) })],
    ];
    const bytes = onnxModel(
      [external('w', [32, 32], 'weights.bin', 0, 4096), external('packed', [5], 'data/more.bin', 0), inline],
      [
        [1, node],
        [15, sparse],
      ],
    );
    const path = modelDir(bytes);
    const model = read(path);
    assert.deepEqual(model.metadata, { ir_version: '9', producer_name: 'aicert-test' });
    assert.deepEqual(
      model.externalFiles.map((f) => [f.name, f.size]),
      [
        ['data/more.bin', 100],
        ['weights.bin', 4160],
      ],
    );
    const summary = model.tensors.map((t) => [
      t.name,
      t.dtype,
      t.shape,
      t.parameters,
      t.location && [t.location.file, t.location.start, t.location.end],
    ]);
    assert.deepEqual(summary, [
      ['w', 'FLOAT', [32, 32], 1024, ['weights.bin', 0, 4096]],
      ['packed', 'FLOAT', [5], 5, ['data/more.bin', 0, 20]],
      ['bias', 'FLOAT', [2], 2, ['model.onnx', bytes.indexOf(inline.raw), bytes.indexOf(inline.raw) + 8]],
      ['sub.w', 'FLOAT', [4], 4, ['data/more.bin', 16, 32]],
      ['const.t', 'FLOAT', [2, 2], 4, ['weights.bin', 4096, 4112]],
      ['sparse.values', 'FLOAT', [3], 3, ['weights.bin', 4112, 4124]],
      [
        'sparse.indices',
        'INT64',
        [3],
        3,
        ['model.onnx', bytes.indexOf(Buffer.alloc(24)), bytes.indexOf(Buffer.alloc(24)) + 24],
      ],
    ]);
  });

  it('sizes packed 4-bit tensors in whole bytes and accepts packed dims', () => {
    const packedDims: PbField[] = [
      [1, Buffer.from([5, 3])],
      [2, INT4],
      [8, 'q'],
      [
        13,
        [
          [1, 'location'],
          [2, 'weights.bin'],
        ],
      ],
      [14, 1],
    ];
    const model = read(modelDir(pb([[7, [[5, packedDims]]]])));
    assert.deepEqual(
      model.tensors.map((t) => [t.shape, t.location!.end]),
      [[[5, 3], 8]],
    );
  });

  for (const location of [
    '../weights.bin',
    '/etc/passwd',
    'data/../../weights.bin',
    'data/./more.bin',
    'data//more.bin',
    '',
    'C:/weights.bin',
    'data\\more.bin',
  ]) {
    it(`rejects the location ${JSON.stringify(location)} as a path escape`, () => {
      throwsCode(() => read(modelDir(onnxModel([external('w', [1], location)]))), 'onnx.path-escape');
    });
  }

  it('refuses locations through symbolic links unless allowed, and never outside the directory', () => {
    const inside = modelDir(onnxModel([external('w', [1], 'link.bin')]));
    symlinkSync('weights.bin', join(inside, '..', 'link.bin'));
    throwsCode(() => read(inside), 'onnx.symlink');
    assert.equal(read(inside, true).tensors.length, 1);
    const viaDir = modelDir(onnxModel([external('w', [1], 'linkdir/x.bin')]));
    symlinkSync(root, join(viaDir, '..', 'linkdir'));
    writeFileSync(join(root, 'x.bin'), Buffer.alloc(4));
    throwsCode(() => read(viaDir, true), 'onnx.path-escape');
  });

  const cases: Array<[string, OnnxTensorSpec, string]> = [
    ['a missing external file', external('w', [1], 'nope.bin'), 'onnx.missing-file'],
    ['a directory as external file', external('w', [1], 'data'), 'onnx.not-a-file'],
    ['a range past the end of the file', external('w', [4], 'data/more.bin', 90), 'onnx.external-range'],
    ['an offset past the end of the file', external('w', [0], 'data/more.bin', 101), 'onnx.external-range'],
    ['a length that disagrees with the shape', external('w', [4], 'weights.bin', 0, 15), 'onnx.size-mismatch'],
    [
      'a non-decimal offset',
      {
        name: 'w',
        dims: [1],
        dataType: FLOAT,
        external: [
          ['location', 'weights.bin'],
          ['offset', '0x10'],
        ],
      },
      'onnx.bad-external-data',
    ],
    [
      'a negative length',
      {
        name: 'w',
        dims: [1],
        dataType: FLOAT,
        external: [
          ['location', 'weights.bin'],
          ['length', '-4'],
        ],
      },
      'onnx.bad-external-data',
    ],
    [
      'an unknown key',
      {
        name: 'w',
        dims: [1],
        dataType: FLOAT,
        external: [
          ['location', 'weights.bin'],
          ['basepath', '/'],
        ],
      },
      'onnx.bad-external-data',
    ],
    [
      'a repeated key',
      {
        name: 'w',
        dims: [1],
        dataType: FLOAT,
        external: [
          ['location', 'weights.bin'],
          ['location', 'data/more.bin'],
        ],
      },
      'onnx.bad-external-data',
    ],
    [
      'EXTERNAL without a location',
      { name: 'w', dims: [1], dataType: FLOAT, external: [['offset', '0']] },
      'onnx.bad-external-data',
    ],
    [
      'external_data without EXTERNAL',
      { name: 'w', dims: [1], dataType: FLOAT, external: [['location', 'weights.bin']], dataLocation: 0 },
      'onnx.bad-external-data',
    ],
    [
      'EXTERNAL with raw_data too',
      { name: 'w', dims: [1], dataType: FLOAT, raw: Buffer.alloc(4), external: [['location', 'weights.bin']] },
      'onnx.bad-external-data',
    ],
    ['an external STRING tensor', external('w', [1], 'weights.bin', 0, undefined, STRING), 'onnx.bad-external-data'],
    ['an unknown data type', external('w', [1], 'weights.bin', 0, undefined, 99), 'onnx.unknown-data-type'],
    ['a negative dimension', external('w', [-1], 'weights.bin'), 'onnx.bad-tensor'],
    [
      'raw_data of the wrong size',
      { name: 'w', dims: [3], dataType: FLOAT, raw: Buffer.alloc(8) },
      'onnx.size-mismatch',
    ],
  ];
  for (const [name, tensor, code] of cases) {
    it(`rejects ${name}`, () => throwsCode(() => read(modelDir(onnxModel([tensor]))), code));
  }

  const malformed: Array<[string, Buffer]> = [
    ['a truncated varint', Buffer.from([0x08, 0x80])],
    ['a length past its message', Buffer.from([0x3a, 0x05, 0x2a, 0x10, 0x00])],
    ['a group (wire type 3)', Buffer.from([0x0b])],
    ['field number 0', Buffer.from([0x02, 0x00])],
    ['an 11-byte varint', Buffer.from([0x08, ...Array(10).fill(0xff), 0x01])],
    ['a graph given as a varint', Buffer.from([0x38, 0x01])],
  ];
  for (const [name, bytes] of malformed) {
    it(`rejects malformed protobuf: ${name}`, () => {
      assert.throws(
        () => read(modelDir(bytes)),
        (e: unknown) => e instanceof InputError && /^onnx\.(malformed|truncated)$/.test(e.code),
      );
    });
  }

  it('rejects subgraphs nested deeper than the limit', () => {
    let graph: PbField[] = [];
    for (let i = 0; i < 40; i++) graph = [[1, [[5, [[6, graph]]]]]]; // node → attribute → g
    throwsCode(() => read(modelDir(pb([[7, graph]]))), 'onnx.malformed', /nested deeper/);
  });

  it('rejects random bytes and randomly mutated valid models with an InputError, never a crash (property)', () => {
    const good = onnxModel([
      external('w', [32, 32], 'weights.bin', 0, 4096),
      { name: 'b', dims: [2], dataType: FLOAT, raw: Buffer.alloc(8) },
    ]);
    const path = modelDir(good);
    const parse = parsesOrRefuses(path, read);
    assertProperty(fc.property(fc.uint8Array({ maxLength: 80 }), parse), { numRuns: 300 });
    assertMutationsOf(good, parse, 400);
  });
});
