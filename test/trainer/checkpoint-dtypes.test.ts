import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import {
  decodeHalf,
  encodeHalf,
  encodeSafetensors,
  readCheckpointFile,
  readTrainingState,
  roundToHalf,
  tensorValues,
  writeCheckpointFile,
  type TrainingState,
} from '../../src/trainer/index.js';
import { readSafetensorsHeader } from '../../src/measure/formats/safetensors.js';
import { InputError } from '../../src/errors.js';

/**
 * Checkpoint dtypes in the SDK: F16 and BF16 decoded exactly and encoded with round-to-nearest-even
 * (against independent oracles: Python's struct 'e' format for F16, the float32 bit trick for
 * BF16), and F64, F16 and BF16 checkpoints written and read back bit for bit; the F32 reader and the
 * all-dtype reader refuse what they cannot hold.
 */
const ALL_PATTERNS = Uint16Array.from({ length: 65536 }, (_, i) => i);
const isNanPattern = (format: 'F16' | 'BF16', bits: number) =>
  format === 'F16'
    ? (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0
    : (bits & 0x7f80) === 0x7f80 && (bits & 0x7f) !== 0;

describe('F16 and BF16 values', () => {
  for (const format of ['F16', 'BF16'] as const) {
    test(`${format}: every one of the 65,536 bit patterns decodes to a value that encodes back to it (NaNs to a NaN)`, () => {
      const values = decodeHalf(format, ALL_PATTERNS);
      for (let bits = 0; bits < 65536; bits++) {
        const back = encodeHalf(format, values[bits]!);
        if (isNanPattern(format, bits)) assert.ok(isNanPattern(format, back), `${bits.toString(16)}`);
        else assert.equal(back, bits, `pattern ${bits.toString(16)}: ${values[bits]}`);
      }
    });
  }

  test('BF16 decodes as the top half of a float32, and known values', () => {
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    const values = decodeHalf('BF16', ALL_PATTERNS);
    for (let bits = 0; bits < 65536; bits += 7) {
      u32[0] = bits << 16;
      assert.ok(Object.is(values[bits], f32[0]) || (Number.isNaN(values[bits]) && Number.isNaN(f32[0])));
    }
    assert.deepEqual(Array.from(decodeHalf('F16', Uint16Array.of(0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7c00))), [
      1,
      -2,
      65504,
      2 ** -24,
      -0,
      Number.POSITIVE_INFINITY,
    ]);
  });

  test('F16 rounding of random doubles agrees with Python struct "e" (round half to even, from the double)', () => {
    const inputs: number[] = [];
    assertProperty(
      fc.property(fc.double({ min: -65519, max: 65519, noNaN: true }), (x) => {
        if (!Object.is(x, -0)) inputs.push(x); // JSON has no −0 to send
        return true;
      }),
      { numRuns: 3000 },
    );
    // Ties and near-ties that rounding through float32 first would get wrong, and subnormals.
    inputs.push(
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
      1 + 2 ** -11 + 2 ** -40,
      2 ** -25,
      3 * 2 ** -26,
      2 ** -24 * 1.5,
      65519.99,
    );
    const run = spawnSync(
      'python3',
      [
        '-c',
        'import json,struct,sys\nprint(json.dumps([struct.unpack("<H",struct.pack("<e",x))[0] for x in json.load(sys.stdin)]))',
      ],
      { input: JSON.stringify(inputs), encoding: 'utf8' },
    );
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(
      inputs.map((x) => encodeHalf('F16', x)),
      JSON.parse(run.stdout),
    );
  });

  test('BF16 rounding of float32 values agrees with the bit trick; a double is rounded once, not through float32', () => {
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    assertProperty(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (x) => {
        f32[0] = x;
        const bits = u32[0]!;
        const expected = (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
        const got = encodeHalf('BF16', f32[0]!);
        // The trick carries into the exponent at the top: that is overflow to infinity, as encodeHalf gives.
        return got === (expected & 0xffff);
      }),
      { numRuns: 5000 },
    );
    // 1 + 2^-8 + 2^-30: above the tie between 1 and 1 + 2^-7, so it rounds up; through float32 it
    // would first become the tie 1 + 2^-8 and round to even, down to 1.
    assert.equal(roundToHalf('BF16', 1 + 2 ** -8 + 2 ** -30), 1 + 2 ** -7);
    assert.equal(roundToHalf('BF16', 1 + 2 ** -8), 1);
    assert.equal(encodeHalf('BF16', 1e39), 0x7f80, 'overflow to +Infinity');
    assert.equal(encodeHalf('F16', -1e6), 0xfc00, 'overflow to −Infinity');
  });
});

describe('checkpoint files of F64, F16 and BF16 tensors', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-dtypes-'));
  });
  after(() => rm(work, { recursive: true, force: true }));

  const state: TrainingState = new Map([
    ['a64', { dtype: 'F64', shape: [3], data: Float64Array.of(0.1, -1e300, Number.MIN_VALUE) }],
    ['b32', { dtype: 'F32', shape: [1, 2], data: Float32Array.of(1.5, -0) }],
    ['c16', { dtype: 'F16', shape: [2], data: Uint16Array.of(0x3c00, 0x0001) }],
    ['optimizer/d', { dtype: 'BF16', shape: [2], data: Uint16Array.of(0x3f80, 0xbf81) }],
  ]);

  test('written and read back bit for bit, each tensor in its own dtype', async () => {
    const path = join(work, 'mixed.safetensors');
    await writeCheckpointFile(path, state);
    assert.deepEqual(
      readSafetensorsHeader(path).tensors.map((t) => [t.name, t.dtype, t.shape]),
      [
        ['a64', 'F64', [3]],
        ['b32', 'F32', [1, 2]],
        ['c16', 'F16', [2]],
        ['optimizer/d', 'BF16', [2]],
      ],
    );
    const back = await readTrainingState(path);
    assert.deepEqual(back, state);
    assert.ok(encodeSafetensors(back).equals(encodeSafetensors(state)));
    assert.deepEqual(Array.from(tensorValues(back.get('c16')!)), [1, 2 ** -24]);
    assert.deepEqual(Array.from(tensorValues(back.get('optimizer/d')!)), [1, -(1 + 2 ** -7)]);
  });

  test("the SDK's F32 reader refuses them; the all-dtype reader refuses integers and F8", async () => {
    const path = join(work, 'f64.safetensors');
    await writeCheckpointFile(path, new Map([['w', state.get('a64')!]]));
    await assert.rejects(
      readCheckpointFile(path),
      (e: unknown) => e instanceof InputError && e.code === 'trainer.checkpoint-dtype',
    );
    for (const [dtype, bytes] of [
      ['I64', 8],
      ['F8_E4M3', 1],
      ['BOOL', 1],
    ] as const) {
      const header = Buffer.from(JSON.stringify({ w: { dtype, shape: [1], data_offsets: [0, bytes] } }));
      const length = Buffer.alloc(8);
      length.writeBigUInt64LE(BigInt(header.length));
      const file = join(work, `${dtype}.safetensors`);
      await writeFile(file, Buffer.concat([length, header, Buffer.alloc(bytes)]));
      await assert.rejects(
        readTrainingState(file),
        (e: unknown) => e instanceof InputError && e.code === 'trainer.checkpoint-dtype' && e.message.includes(dtype),
      );
    }
  });

  test('the writer refuses data of the wrong array type for its dtype', () => {
    assert.throws(
      () => encodeSafetensors(new Map([['w', { dtype: 'BF16', shape: [1], data: Float32Array.of(1) as never }]])),
      (e: unknown) => e instanceof InputError && e.code === 'safetensors.bad-dtype',
    );
  });
});
