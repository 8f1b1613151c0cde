import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { readSafetensorsIndex } from '../../../src/measure/formats/safetensors-index.js';
import { scratchDir } from '../helpers.js';
import { throwsCode } from './parser-assertions.js';
import { safetensorsOf, type StTensor } from './builders.js';

const root = scratchDir('st-index');
let counter = 0;

const shard1: StTensor[] = [
  { name: 'a.weight', dtype: 'F16', shape: [2, 2], data: randomBytes(8) },
  { name: 'b.weight', dtype: 'F32', shape: [2], data: randomBytes(8) },
];
const shard2: StTensor[] = [{ name: 'c.weight', dtype: 'BF16', shape: [3], data: randomBytes(6) }];
const goodMap = {
  'a.weight': 'model-00001-of-00002.safetensors',
  'b.weight': 'model-00001-of-00002.safetensors',
  'c.weight': 'model-00002-of-00002.safetensors',
};

/** A fresh model directory with both shards and an index of `index` (object or raw text). */
function model(index: unknown, options: { shards?: boolean } = {}): string {
  const dir = join(root, `model${counter++}`);
  mkdirSync(dir);
  if (options.shards ?? true) {
    writeFileSync(join(dir, 'model-00001-of-00002.safetensors'), safetensorsOf(shard1));
    writeFileSync(join(dir, 'model-00002-of-00002.safetensors'), safetensorsOf(shard2));
  }
  const path = join(dir, 'model.safetensors.index.json');
  writeFileSync(path, typeof index === 'string' ? index : JSON.stringify(index));
  return path;
}

const read = (path: string, allowSymlinks = false) => readSafetensorsIndex(path, { allowSymlinks });

describe('sharded safetensors (index.json)', () => {
  it('reads every shard named in the weight map and maps each tensor to its shard', () => {
    const index = read(model({ metadata: { total_size: 22 }, weight_map: goodMap }));
    assert.deepEqual(index.metadata, { total_size: '22' });
    assert.deepEqual(
      index.shards.map((s) => [s.name, s.header.tensors.map((t) => t.name)]),
      [
        ['model-00001-of-00002.safetensors', ['a.weight', 'b.weight']],
        ['model-00002-of-00002.safetensors', ['c.weight']],
      ],
    );
  });

  it('rejects a missing shard', () => {
    const path = model({ weight_map: goodMap }, { shards: false });
    writeFileSync(join(path, '..', 'model-00001-of-00002.safetensors'), safetensorsOf(shard1));
    throwsCode(() => read(path), 'safetensors-index.missing-file', /model-00002-of-00002/);
  });

  for (const shardName of [
    '../model-00001-of-00002.safetensors',
    '/etc/passwd',
    'sub/model.safetensors',
    '..',
    '.',
    '',
    'a\\b.safetensors',
    'C:model.safetensors',
  ]) {
    it(`rejects the shard name ${JSON.stringify(shardName)} as a path escape`, () => {
      throwsCode(
        () => read(model({ weight_map: { ...goodMap, 'c.weight': shardName } })),
        'safetensors-index.path-escape',
      );
    });
  }

  it('refuses a shard that is a symbolic link unless allowed, and never one leading outside', () => {
    const linked = model({ weight_map: { ...goodMap, 'c.weight': 'link.safetensors' } });
    symlinkSync('model-00002-of-00002.safetensors', join(dirname(linked), 'link.safetensors'));
    throwsCode(() => read(linked), 'safetensors-index.symlink');
    assert.equal(read(linked, true).shards.length, 2);

    const outside = join(root, `outside${counter++}.safetensors`);
    writeFileSync(outside, safetensorsOf(shard2));
    const escaping = model({ weight_map: { ...goodMap, 'c.weight': 'link.safetensors' } });
    symlinkSync(outside, join(dirname(escaping), 'link.safetensors'));
    throwsCode(() => read(escaping, true), 'safetensors-index.path-escape');
  });

  it('rejects a mapped tensor that is not in its shard', () => {
    throwsCode(
      () => read(model({ weight_map: { ...goodMap, 'z.weight': 'model-00002-of-00002.safetensors' } })),
      'safetensors-index.missing-tensor',
      /z\.weight/,
    );
  });

  it('rejects a shard tensor that the map does not list', () => {
    const { 'b.weight': _, ...withoutB } = goodMap;
    throwsCode(() => read(model({ weight_map: withoutB })), 'safetensors-index.unmapped-tensor', /b\.weight/);
  });

  it('rejects a tensor mapped to the wrong shard', () => {
    throwsCode(
      () => read(model({ weight_map: { ...goodMap, 'c.weight': 'model-00001-of-00002.safetensors' } })),
      'safetensors-index.missing-tensor',
    );
    const crossed = { ...goodMap, 'b.weight': 'model-00002-of-00002.safetensors' };
    throwsCode(() => read(model({ weight_map: crossed })), 'safetensors-index.tensor-in-wrong-shard', /b\.weight/);
  });

  it('rejects a corrupt shard through the shard parser', () => {
    const path = model({ weight_map: goodMap });
    writeFileSync(
      join(path, '..', 'model-00002-of-00002.safetensors'),
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
    );
    throwsCode(() => read(path), 'safetensors.header-too-large');
  });

  for (const [name, index, code] of [
    ['not JSON', '{"weight_map": ', 'safetensors-index.not-json'],
    ['a JSON array', '[]', 'safetensors-index.not-json'],
    ['without a weight map', { metadata: {} }, 'safetensors-index.bad-weight-map'],
    ['an empty weight map', { weight_map: {} }, 'safetensors-index.bad-weight-map'],
    ['a weight map with a non-string shard', { weight_map: { 'a.weight': 1 } }, 'safetensors-index.bad-weight-map'],
    [
      'a duplicate key',
      '{"weight_map": {"a.weight": "x.safetensors", "a.weight": "y.safetensors"}}',
      'safetensors-index.duplicate-key',
    ],
    ['a metadata that is not an object', { metadata: 'x', weight_map: goodMap }, 'safetensors-index.bad-metadata'],
  ] as const) {
    it(`rejects an index that is ${name}`, () => throwsCode(() => read(model(index)), code));
  }
});
