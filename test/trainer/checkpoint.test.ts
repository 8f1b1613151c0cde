import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import { InputError } from '../../src/errors.js';
import { readSafetensorsHeader } from '../../src/measure/formats/safetensors.js';
import {
  readCheckpointFile,
  weightsOf,
  writeCheckpointFile,
  type Checkpoint,
  type Tensor,
} from '../../src/trainer/checkpoint.js';
import { encodeF32Safetensors } from '../../src/trainer/safetensors-writer.js';

const f32 = (shape: number[], values: number[]): Tensor => ({ dtype: 'F32', shape, data: new Float32Array(values) });

/** The header of a safetensors file, parsed from first principles (not with the code under test). */
function parseHeaderByHand(file: Buffer) {
  const length = Number(file.readBigUInt64LE(0));
  const text = file.subarray(8, 8 + length).toString('utf8');
  return {
    length,
    text,
    header: JSON.parse(text) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>,
  };
}

const checkpointArbitrary = fc
  .uniqueArray(
    fc
      .string({ minLength: 1, maxLength: 12 })
      .filter((n) => n !== '__metadata__' && n !== '__proto__' && Buffer.from(n).toString() === n),
    { minLength: 1, maxLength: 5 },
  )
  .chain((names) =>
    fc
      .tuple(
        ...names.map((name) => fc.tuple(fc.constant(name), fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }))),
      )
      .chain((entries) =>
        fc.tuple(
          ...entries.map(([name, shape]) =>
            fc
              .float32Array({
                minLength: shape.reduce((a, b) => a * b, 1),
                maxLength: shape.reduce((a, b) => a * b, 1),
              })
              .map((data) => [name, { dtype: 'F32' as const, shape, data }] as const),
          ),
        ),
      ),
  )
  .map((entries) => new Map(entries) as Checkpoint);

describe('checkpoint files', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aicert-ckpt-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('encoding: tensors sorted by UTF-8 name, compact header padded with spaces to 8 bytes, little-endian F32', () => {
    const checkpoint: Checkpoint = new Map([
      ['b', f32([2, 3], [1, 2, 3, 4, 5, 6])],
      ['\uFF01', f32([1], [2])],
      ['\u{1F600}', f32([1], [3])],
      ['a', f32([], [-0.5])],
    ]);
    const file = encodeF32Safetensors(checkpoint);
    const { length, text, header } = parseHeaderByHand(file);
    assert.equal(length % 8, 0);
    // U+FF01 < U+1F600 in UTF-8 bytes (and code points), though its UTF-16 unit 0xFF01 > 0xD83D.
    assert.deepEqual(Object.keys(header), ['a', 'b', '\uFF01', '\u{1F600}']);
    assert.equal(text.trimEnd(), JSON.stringify(header));
    assert.match(text, / *$/);
    assert.deepEqual(header.b, { dtype: 'F32', shape: [2, 3], data_offsets: [4, 28] });
    assert.equal(file.readFloatLE(8 + length), -0.5);
    assert.equal(file.readFloatLE(8 + length + 4 + 20), 6);
    assert.equal(file.length, 8 + length + 36);
  });

  test('every value keeps its bits (−0, NaN payloads, subnormals)', async () => {
    const bits = new Uint32Array([0x80000000, 0x7fc00001, 0xffa00000, 0x00000001, 0x7f7fffff]);
    const data = new Float32Array(bits.buffer);
    const path = join(dir, 'bits.safetensors');
    await writeCheckpointFile(path, new Map([['w', { dtype: 'F32', shape: [5], data }]]));
    const back = (await readCheckpointFile(path)).get('w')!;
    assert.deepEqual(new Uint32Array(back.data.buffer), bits);
  });

  test("write then read gives the same tensors, and the file passes aicert's strict parser", async () => {
    let n = 0;
    await assertProperty(
      fc.asyncProperty(checkpointArbitrary, async (checkpoint) => {
        const path = join(dir, `rt-${n++}.safetensors`);
        await writeCheckpointFile(path, checkpoint);
        assert.equal(readSafetensorsHeader(path).tensors.length, checkpoint.size);
        const back = await readCheckpointFile(path);
        assert.deepEqual([...back.keys()].sort(), [...checkpoint.keys()].sort());
        for (const [name, t] of checkpoint) {
          assert.deepEqual(back.get(name)!.shape, t.shape);
          assert.ok(
            Buffer.from(back.get(name)!.data.buffer).equals(
              Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
            ),
            name,
          );
        }
        assert.ok(encodeF32Safetensors(back).equals(await readFile(path)), 'the encoding is a function of the tensors');
      }),
      { numRuns: 60 },
    );
  });

  test('writes are atomic: no temporary file is left behind', async () => {
    const sub = await mkdtemp(join(dir, 'atomic-'));
    await writeCheckpointFile(join(sub, 'x.safetensors'), new Map([['w', f32([1], [1])]]));
    assert.deepEqual(await readdir(sub), ['x.safetensors']);
  });

  test('weightsOf drops the optimizer state and keeps every weight', () => {
    const checkpoint: Checkpoint = new Map([
      ['dense.kernel', f32([1], [1])],
      ['optimizer/momentum/dense.kernel', f32([1], [2])],
      ['optimizer/step', f32([], [3])],
      ['optimizerish', f32([1], [4])],
    ]);
    assert.deepEqual([...weightsOf(checkpoint).keys()], ['dense.kernel', 'optimizerish']);
  });

  test('the writer refuses shapes that do not match, other dtypes and unusable names', () => {
    const refuse = (c: Checkpoint, code: string) =>
      assert.throws(
        () => encodeF32Safetensors(c),
        (e) => e instanceof InputError && e.code === code,
      );
    refuse(new Map([['x', f32([3], [1, 2])]]), 'safetensors.bad-shape');
    refuse(new Map([['x', f32([-1], [])]]), 'safetensors.bad-shape');
    refuse(
      new Map([['x', { dtype: 'F16', shape: [1], data: new Float32Array(1) } as unknown as Tensor]]),
      'safetensors.bad-dtype',
    );
    for (const name of ['', '__metadata__', 'lone\uD800'])
      refuse(new Map([[name, f32([1], [1])]]), 'safetensors.bad-name');
  });

  test('reserved names are refused with one line naming the tensor; JavaScript-special names round-trip', async () => {
    // An object header would have dropped "__proto__" silently (it sets the prototype).
    for (const name of ['__proto__', '__metadata__']) {
      assert.throws(
        () =>
          encodeF32Safetensors(
            new Map([
              ['w', f32([1], [1])],
              [name, f32([1], [2])],
            ]),
          ),
        (e) =>
          e instanceof InputError &&
          e.code === 'safetensors.bad-name' &&
          e.message.includes(`"${name}"`) &&
          /reserved/.test(e.message) &&
          !e.message.includes('\n'),
      );
    }
    const checkpoint: Checkpoint = new Map([
      ['constructor', f32([1], [1])],
      ['toString', f32([2], [2, 3])],
      ['hasOwnProperty', f32([], [4])],
      ['__proto', f32([1], [5])],
      ['w', f32([1], [6])],
    ]);
    const path = join(dir, 'special-names.safetensors');
    await writeCheckpointFile(path, checkpoint);
    assert.deepEqual(
      readSafetensorsHeader(path)
        .tensors.map((t) => t.name)
        .sort(),
      [...checkpoint.keys()].sort(),
    );
    const back = await readCheckpointFile(path);
    for (const [name, t] of checkpoint) assert.deepEqual(back.get(name), t, name);
  });

  test('the header lists tensors in UTF-8 name order, integer-like names included (as the Python SDK writes it)', () => {
    // A JavaScript object enumerates integer-like keys first, in numeric order: "2" before "10".
    const file = encodeF32Safetensors(
      new Map([
        ['2', f32([1], [1])],
        ['10', f32([1], [2])],
        ['a', f32([1], [3])],
        ['01', f32([1], [4])],
      ]),
    );
    const { text, header } = parseHeaderByHand(file);
    assert.deepEqual(
      [...text.matchAll(/"([^"]+)":\{/g)].map((m) => m[1]),
      ['01', '10', '2', 'a'],
    );
    assert.deepEqual(header['10']!.data_offsets, [4, 8]);
    assert.deepEqual(header['2']!.data_offsets, [8, 12]);
  });

  test('the reader refuses other dtypes, and random or mutated files with an InputError, never a crash', async () => {
    const header = '{"w":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}';
    const padded = header.padEnd(Math.ceil(header.length / 8) * 8, ' ');
    const lengthBytes = Buffer.alloc(8);
    lengthBytes.writeBigUInt64LE(BigInt(padded.length));
    const path = join(dir, 'f16.safetensors');
    await writeFile(path, Buffer.concat([lengthBytes, Buffer.from(padded), Buffer.alloc(2)]));
    await assert.rejects(
      readCheckpointFile(path),
      (e) => e instanceof InputError && e.code === 'trainer.checkpoint-dtype',
    );

    const valid = encodeF32Safetensors(
      new Map([
        ['a', f32([2, 2], [1, 2, 3, 4])],
        ['b', f32([3], [5, 6, 7])],
      ]),
    );
    const mutated = fc
      .tuple(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        fc.boolean(),
      )
      .map(([edits, cut, truncate]) => {
        const bytes = Buffer.from(valid);
        for (const [position, byte] of edits) bytes[position % bytes.length] = byte;
        return truncate ? bytes.subarray(0, cut % bytes.length) : bytes;
      });
    let n = 0;
    await assertProperty(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
          mutated,
        ),
        async (bytes) => {
          const file = join(dir, `m-${n++}.safetensors`);
          await writeFile(file, bytes);
          try {
            const checkpoint = await readCheckpointFile(file);
            for (const t of checkpoint.values())
              assert.equal(
                t.data.length,
                t.shape.reduce((a, b) => a * b, 1),
              );
          } catch (err) {
            assert.ok(err instanceof InputError, String(err));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
