import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { assertProperty } from '../../util/property.js';
import { readGgufHeader } from '../../../src/measure/formats/gguf.js';
import { scratchDir } from '../helpers.js';
import { assertMutationsOf, parsesOrRefuses, throwsCode } from './parser-assertions.js';
import { ggufFile, type GgufSpec, type GgufTensorSpec } from './builders.js';

const dir = scratchDir('gguf');
let counter = 0;
function write(bytes: Buffer): string {
  const path = join(dir, `m${counter++}.gguf`);
  writeFileSync(path, bytes);
  return path;
}

const tensors: GgufTensorSpec[] = [
  { name: 'token_embd.weight', dims: [4, 2], type: 0, data: randomBytes(32) }, // F32: 8 × 4 bytes
  { name: 'blk.0.attn_q.weight', dims: [32, 2], type: 2, data: randomBytes(36) }, // Q4_0: 2 blocks × 18 bytes
  { name: 'output.weight', dims: [64], type: 8, data: randomBytes(68) }, // Q8_0: 2 blocks × 34 bytes
];
const kv: GgufSpec['kv'] = [
  ['general.architecture', { type: 'string', value: 'llama' }],
  ['llama.context_length', { type: 'u32', value: 4096 }],
  ['llama.rope.freq_base', { type: 'f32', value: 10000 }],
  ['general.file_type', { type: 'i32', value: -2 }],
  ['general.parameter_count', { type: 'u64', value: 12345678901n }],
  ['general.flag', { type: 'bool', value: true }],
  ['tokenizer.ggml.tokens', { type: 'array', elementType: 'string', value: ['<s>', '</s>', 'hello'] }],
  ['tokenizer.ggml.scores', { type: 'array', elementType: 'f32', value: [0, 0.5, -1] }],
];
const valid: GgufSpec = { kv, tensors };

describe('GGUF headers', () => {
  it('parse metadata, tensor infos and absolute byte ranges of a real v3 file', () => {
    const bytes = ggufFile(valid);
    const header = readGgufHeader(write(bytes));
    assert.equal(header.version, 3);
    assert.equal(header.alignment, 32);
    assert.equal(header.dataStart % 32, 0);
    assert.deepEqual(header.metadata, {
      'general.architecture': 'llama',
      'llama.context_length': '4096',
      'llama.rope.freq_base': '10000',
      'general.file_type': '-2',
      'general.parameter_count': '12345678901',
      'general.flag': 'true',
      'tokenizer.ggml.tokens': '[3 × string]',
      'tokenizer.ggml.scores': '[3 × float32]',
    });
    assert.deepEqual(
      header.tensors.map((t) => [t.name, t.dtype, t.shape, t.parameters, t.end - t.start]),
      [
        ['token_embd.weight', 'F32', [4, 2], 8, 32],
        ['blk.0.attn_q.weight', 'Q4_0', [32, 2], 64, 36],
        ['output.weight', 'Q8_0', [64], 64, 68],
      ],
    );
    for (const [i, t] of header.tensors.entries()) assert.deepEqual(bytes.subarray(t.start, t.end), tensors[i]!.data);
  });

  it('accept version 2 and a custom power-of-two alignment', () => {
    const header = readGgufHeader(write(ggufFile({ ...valid, version: 2, alignment: 64 })));
    assert.deepEqual([header.version, header.alignment, header.dataStart % 64], [2, 64, 0]);
    assert.equal(header.tensors[1]!.start - header.dataStart, 64);
  });

  it('read only the header: a 4 GiB sparse file parses at once', () => {
    const path = write(ggufFile(valid));
    truncateSync(path, 4 * 1024 ** 3);
    const started = performance.now();
    assert.equal(readGgufHeader(path).tensors.length, 3);
    assert.ok(performance.now() - started < 1000);
  });

  const bad = (changes: Partial<GgufSpec>) => () => ggufFile({ ...valid, ...changes });
  const withTensor = (i: number, change: Partial<GgufTensorSpec>) =>
    bad({ tensors: tensors.map((t, j) => (j === i ? { ...t, ...change } : t)) });
  const cases: Array<[string, () => Buffer, string, RegExp?]> = [
    ['a wrong magic', () => Buffer.concat([Buffer.from('GGUG'), ggufFile(valid).subarray(4)]), 'gguf.bad-magic'],
    ['version 1', bad({ version: 1 }), 'gguf.unsupported-version'],
    ['a big-endian file', bad({ version: 0x03000000 }), 'gguf.unsupported-version', /big-endian/],
    ['a tensor count of 2^63', bad({ tensorCount: 1n << 63n }), 'gguf.bad-count'],
    ['a metadata count of 2^64 - 1', bad({ kvCount: (1n << 64n) - 1n }), 'gguf.bad-count'],
    [
      'a file cut inside the tensor infos',
      () => {
        const b = ggufFile(valid);
        return b.subarray(0, b.indexOf('output.weight') + 5);
      },
      'gguf.truncated',
    ],
    [
      'a string length of 2^63',
      () => {
        const b = ggufFile(valid);
        b.writeBigUInt64LE(1n << 63n, 24); // the first key's length
        return b;
      },
      'gguf.bad-string',
    ],
    [
      'a metadata key that is not UTF-8',
      () => {
        const b = ggufFile({ ...valid, kv: [['zk', { type: 'u8', value: 1 }]] });
        b[24 + 8] = 0xff; // first byte of the key
        return b;
      },
      'gguf.bad-string',
    ],
    [
      'a duplicate metadata key',
      bad({ kv: [...kv, ['general.architecture', { type: 'string', value: 'x' }]] }),
      'gguf.duplicate-key',
    ],
    [
      'an unknown value type',
      () => {
        const b = ggufFile({ ...valid, kv: [['k', { type: 'u8', value: 1 }]] });
        b.writeUInt32LE(13, 24 + 8 + 1); // value type after "k"
        return b;
      },
      'gguf.bad-value-type',
    ],
    [
      'an array of arrays',
      () => {
        const b = ggufFile({ ...valid, kv: [['k', { type: 'array', elementType: 'u32', value: [] }]] });
        b.writeUInt32LE(9, 24 + 8 + 1 + 4); // element type
        return b;
      },
      'gguf.bad-value-type',
    ],
    [
      'an array longer than the file',
      () => {
        const b = ggufFile({ ...valid, kv: [['k', { type: 'array', elementType: 'u32', value: [1] }]] });
        b.writeBigUInt64LE(1n << 40n, 24 + 8 + 1 + 4 + 4); // element count
        return b;
      },
      'gguf.bad-count',
    ],
    ['a bool that is neither 0 nor 1', bad({ kv: [['b', { type: 'bool', value: 2 }]] }), 'gguf.bad-value'],
    ['an alignment that is not a power of two', bad({ alignment: 48 }), 'gguf.bad-alignment'],
    [
      'an alignment that is not a uint32',
      bad({ kv: [...kv, ['general.alignment', { type: 'u64', value: 32n }]] }),
      'gguf.bad-alignment',
    ],
    ['an unknown ggml type', withTensor(0, { type: 4 }), 'gguf.unknown-tensor-type'],
    ['more than 4 dimensions', withTensor(0, { dims: [1, 1, 1, 1, 8] }), 'gguf.bad-tensor'],
    [
      'a block type whose first dimension is not a multiple of the block',
      withTensor(1, { dims: [16, 4] }),
      'gguf.bad-tensor',
    ],
    ['a tensor of 2^63 elements', withTensor(0, { dims: [2 ** 53, 2 ** 10] }), 'gguf.bad-tensor'],
    ['a tensor larger than the file', withTensor(0, { dims: [2 ** 40] }), 'gguf.tensor-past-end'],
    ['a tensor name longer than ggml allows', withTensor(0, { name: 'x'.repeat(64) }), 'gguf.bad-string'],
    ['a duplicate tensor name', withTensor(1, { name: 'token_embd.weight' }), 'gguf.duplicate-tensor'],
    ['a misaligned tensor offset', withTensor(1, { offset: 33n }), 'gguf.misaligned-tensor'],
    ['overlapping tensors', withTensor(1, { offset: 0n }), 'gguf.bad-tensor-offset'],
    ['a gap between tensors', withTensor(1, { offset: 64n }), 'gguf.bad-tensor-offset'],
    // The last tensor is 68 bytes followed by 28 bytes of alignment padding, which may be absent.
    ['a tensor past the end of the file', () => ggufFile(valid).subarray(0, -29), 'gguf.tensor-past-end'],
  ];
  for (const [name, build, code, message] of cases) {
    it(`reject ${name}`, () => throwsCode(() => readGgufHeader(write(build())), code, message));
  }

  it('reject random bytes and randomly mutated valid files with an InputError, never a crash or hang (property)', () => {
    const good = ggufFile(valid);
    const path = join(dir, 'fuzz.gguf');
    const parse = parsesOrRefuses(path, readGgufHeader);
    assertProperty(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => parse(Buffer.concat([Buffer.from('GGUF'), b]))),
      { numRuns: 200 },
    );
    assertMutationsOf(good, parse, 400);
  });
});
