import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { assertProperty } from '../../util/property.js';
import { InputError } from '../../../src/errors.js';
import { describeModel } from '../../../src/measure/formats/describe.js';
import { readSafetensorsHeader, SAFETENSORS_MAX_HEADER_BYTES } from '../../../src/measure/formats/safetensors.js';
import { checkTensorDigests, tensorDigests } from '../../../src/measure/formats/tensor-digests.js';
import { HashPool } from '../../../src/measure/hash-pool.js';
import { opensslRange, scratchDir } from '../helpers.js';
import { safetensorsFile, safetensorsHeader, safetensorsOf, type StTensor } from './builders.js';
import { assertMutationsOf, parsesOrRefuses, throwsCode } from './parser-assertions.js';

const dir = scratchDir('safetensors');
let counter = 0;
function write(bytes: Buffer): string {
  const path = join(dir, `m${counter++}.safetensors`);
  writeFileSync(path, bytes);
  return path;
}

const tensors: StTensor[] = [
  { name: 'embed.weight', dtype: 'F16', shape: [4, 3], data: randomBytes(24) },
  { name: 'norm.bias', dtype: 'F32', shape: [3], data: randomBytes(12) },
  { name: 'empty', dtype: 'BF16', shape: [0, 5], data: Buffer.alloc(0) },
  { name: 'scalar', dtype: 'I64', shape: [], data: randomBytes(8) },
  { name: 'packed', dtype: 'F4', shape: [6], data: randomBytes(3) },
];

describe('safetensors headers', () => {
  it('parse tensors with dtype, shape, parameter count and absolute byte ranges, plus metadata', () => {
    const bytes = safetensorsOf(tensors, { format: 'pt' });
    const header = readSafetensorsHeader(write(bytes));
    const headerLength = Number(bytes.readBigUInt64LE(0));
    assert.equal(header.dataStart, 8 + headerLength);
    assert.deepEqual(header.metadata, { format: 'pt' });
    assert.deepEqual(
      header.tensors.map((t) => [t.name, t.dtype, t.shape, t.parameters, t.end - t.start]),
      [
        ['embed.weight', 'F16', [4, 3], 12, 24],
        ['norm.bias', 'F32', [3], 3, 12],
        ['empty', 'BF16', [0, 5], 0, 0],
        ['scalar', 'I64', [], 1, 8],
        ['packed', 'F4', [6], 6, 3],
      ],
    );
    for (const [i, t] of header.tensors.entries()) assert.deepEqual(bytes.subarray(t.start, t.end), tensors[i]!.data);
  });

  it('accept a header right-padded with spaces and an empty tensor table', () => {
    const padded = JSON.stringify(safetensorsHeader(tensors.slice(0, 1))) + '    ';
    assert.equal(readSafetensorsHeader(write(safetensorsFile(padded, tensors[0]!.data))).tensors.length, 1);
    assert.deepEqual(readSafetensorsHeader(write(safetensorsFile('{}', Buffer.alloc(0)))).tensors, []);
  });

  const valid = safetensorsHeader(tensors);
  const data = Buffer.concat(tensors.map((t) => t.data));
  const withEntry = (name: string, entry: unknown) => JSON.stringify({ ...valid, [name]: entry });
  const cases: Array<[string, () => Buffer, string]> = [
    [
      'a header length of 2^63',
      () => safetensorsFile('{}', Buffer.alloc(0), 1n << 63n),
      'safetensors.header-too-large',
    ],
    [
      'a header length just over the 100 MB limit',
      () => safetensorsFile('{}', Buffer.alloc(0), BigInt(SAFETENSORS_MAX_HEADER_BYTES + 1)),
      'safetensors.header-too-large',
    ],
    [
      'a header length past the end of the file',
      () => safetensorsFile('{}', Buffer.alloc(0), 3n),
      'safetensors.header-past-end',
    ],
    ['a file shorter than the length field', () => Buffer.from([1, 0, 0]), 'safetensors.truncated'],
    ['a header that is not JSON', () => safetensorsFile('{"a": [1, 2', data), 'safetensors.header-not-json'],
    ['a header that is a JSON array', () => safetensorsFile('[]', data), 'safetensors.header-not-json'],
    ['a header with leading whitespace', () => safetensorsFile(' {}', Buffer.alloc(0)), 'safetensors.header-not-json'],
    [
      'a header that is not UTF-8',
      () => safetensorsFile(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), data),
      'safetensors.header-not-utf8',
    ],
    [
      'a duplicate tensor name',
      () =>
        safetensorsFile(
          `{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`,
          Buffer.alloc(1),
        ),
      'safetensors.duplicate-key',
    ],
    [
      'a duplicate key inside an entry',
      () => safetensorsFile(`{"a":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}}`, Buffer.alloc(1)),
      'safetensors.duplicate-key',
    ],
    [
      'an unknown dtype',
      () => safetensorsFile(withEntry('embed.weight', { dtype: 'F12', shape: [4, 3], data_offsets: [0, 24] }), data),
      'safetensors.unknown-dtype',
    ],
    [
      'a shape that disagrees with the byte range',
      () => safetensorsFile(withEntry('embed.weight', { dtype: 'F16', shape: [4, 4], data_offsets: [0, 24] }), data),
      'safetensors.size-mismatch',
    ],
    [
      'a dtype that disagrees with the byte range',
      () => safetensorsFile(withEntry('embed.weight', { dtype: 'F32', shape: [4, 3], data_offsets: [0, 24] }), data),
      'safetensors.size-mismatch',
    ],
    [
      'an odd count of 4-bit elements',
      () => safetensorsFile('{"p":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}}', Buffer.alloc(1)),
      'safetensors.size-mismatch',
    ],
    [
      'overlapping offsets',
      () => safetensorsFile(withEntry('norm.bias', { dtype: 'F32', shape: [3], data_offsets: [20, 32] }), data),
      'safetensors.overlapping-tensors',
    ],
    [
      'a gap between tensors',
      () =>
        safetensorsFile(
          JSON.stringify({
            a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] },
            b: { dtype: 'U8', shape: [2], data_offsets: [3, 5] },
          }),
          Buffer.alloc(5),
        ),
      'safetensors.gap-between-tensors',
    ],
    [
      'a first tensor that does not start at 0',
      () => safetensorsFile(JSON.stringify({ a: { dtype: 'U8', shape: [2], data_offsets: [1, 3] } }), Buffer.alloc(3)),
      'safetensors.gap-between-tensors',
    ],
    [
      'a tensor past the end of the file',
      () => safetensorsFile(JSON.stringify(valid), data.subarray(0, data.length - 1)),
      'safetensors.tensor-past-end',
    ],
    [
      'bytes after the last tensor',
      () => safetensorsFile(JSON.stringify(valid), Buffer.concat([data, Buffer.alloc(1)])),
      'safetensors.unclaimed-bytes',
    ],
    [
      'metadata with a non-string value',
      () => safetensorsFile(JSON.stringify({ ...valid, __metadata__: { epochs: 3 } }), data),
      'safetensors.bad-metadata',
    ],
    [
      'a tensor entry with an extra key',
      () =>
        safetensorsFile(withEntry('norm.bias', { dtype: 'F32', shape: [3], data_offsets: [24, 36], extra: 1 }), data),
      'safetensors.bad-tensor-entry',
    ],
    [
      'a tensor entry without shape',
      () => safetensorsFile(withEntry('norm.bias', { dtype: 'F32', data_offsets: [24, 36] }), data),
      'safetensors.bad-tensor-entry',
    ],
    [
      'a negative dimension',
      () => safetensorsFile(withEntry('norm.bias', { dtype: 'F32', shape: [-3], data_offsets: [24, 36] }), data),
      'safetensors.bad-shape',
    ],
    [
      'a fractional dimension',
      () => safetensorsFile(withEntry('norm.bias', { dtype: 'F32', shape: [1.5], data_offsets: [24, 36] }), data),
      'safetensors.bad-shape',
    ],
    [
      'offsets with begin > end',
      () => safetensorsFile(withEntry('norm.bias', { dtype: 'F32', shape: [3], data_offsets: [36, 24] }), data),
      'safetensors.bad-offsets',
    ],
    [
      'offsets beyond 2^53',
      () => safetensorsFile(withEntry('norm.bias', { dtype: 'F32', shape: [3], data_offsets: [24, 2 ** 60] }), data),
      'safetensors.bad-offsets',
    ],
    [
      'three offsets',
      () => safetensorsFile(withEntry('norm.bias', { dtype: 'F32', shape: [3], data_offsets: [24, 30, 36] }), data),
      'safetensors.bad-offsets',
    ],
  ];
  for (const [name, build, code] of cases) {
    it(`reject ${name}`, () => throwsCode(() => readSafetensorsHeader(write(build())), code));
  }

  it('reject random bytes and randomly mutated valid files with an InputError, never a crash (property)', () => {
    const good = safetensorsOf(tensors, { format: 'pt' });
    const path = join(dir, 'fuzz.safetensors');
    const parse = parsesOrRefuses(path, readSafetensorsHeader);
    assertProperty(fc.property(fc.uint8Array({ maxLength: 64 }), parse), { numRuns: 200 });
    assertMutationsOf(good, parse, 300);
    // Length fields anywhere from 0 to 2^64 - 1, over a short file.
    assertProperty(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (length) =>
        parse(safetensorsFile('{}', Buffer.alloc(4), length)),
      ),
      { numRuns: 100 },
    );
  });
});

describe('per-tensor digests', () => {
  const pool = new HashPool({ workers: 2 });
  after(() => pool.close());

  it('equal openssl over each tensor byte range, and a subset can be checked alone', async () => {
    const modelDir = join(dir, 'digest-model');
    mkdirSync(modelDir);
    const path = join(modelDir, 'model.safetensors');
    writeFileSync(path, safetensorsOf(tensors));
    const description = await describeModel(modelDir);
    const digests = await tensorDigests(description, pool);
    assert.equal(digests.length, tensors.length);
    for (const d of digests) assert.equal(d.sha256, opensslRange(path, d.start, d.end), d.name);

    const subset = digests.filter((d) => d.name === 'norm.bias' || d.name === 'scalar');
    const checks = await checkTensorDigests(description, subset, pool);
    assert.deepEqual(
      checks.map((c) => [c.name, c.ok]),
      [
        ['norm.bias', true],
        ['scalar', true],
      ],
    );

    // Change one byte of norm.bias: only that tensor fails.
    const bytes = safetensorsOf(tensors);
    const normBias = digests.find((d) => d.name === 'norm.bias')!;
    bytes[normBias.start]! ^= 0xff;
    writeFileSync(path, bytes);
    const after = await checkTensorDigests(description, subset, pool);
    assert.deepEqual(
      after.map((c) => [c.name, c.ok]),
      [
        ['norm.bias', false],
        ['scalar', true],
      ],
    );

    await assert.rejects(
      checkTensorDigests(description, [{ file: 'model.safetensors', name: 'nope', sha256: normBias.sha256 }], pool),
      (e: unknown) => e instanceof InputError && e.code === 'tensor-digests.unknown-tensor',
    );
  });
});
