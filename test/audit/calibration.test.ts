import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { roundingPerturbation } from '../../src/audit/calibration.js';
import { SeedStream, type Checkpoint } from '../../src/trainer/index.js';

const stream = (label: string) => new SeedStream(createHash('sha256').update(label).digest(), 'test');

test('the rounding perturbation moves each value by at most one unit in the last place, about half of them', () => {
  const values = Float32Array.from({ length: 10_000 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 4));
  const c: Checkpoint = new Map([
    ['w', { dtype: 'F32', shape: [values.length], data: values }],
    ['optimizer/w', { dtype: 'F32', shape: [2], data: Float32Array.from([0, -0]) }],
  ]);
  const original = Float32Array.from(values);
  const p = roundingPerturbation(c, stream('a'));
  const before = new Uint32Array(values.buffer);
  const after = new Uint32Array(p.get('w')!.data.buffer);
  let changed = 0;
  for (let i = 0; i < before.length; i++) {
    const diff = (before[i]! ^ after[i]!) >>> 0;
    assert.ok(diff === 0 || diff === 1, `value ${i} changed in more than its last bit`);
    changed += diff;
  }
  assert.ok(Math.abs(changed - 5000) < 250, `${changed} of 10000 values flipped`);
  assert.deepEqual(values, original, 'the input checkpoint is not modified');
  assert.deepEqual(
    roundingPerturbation(c, stream('a')).get('w')!.data,
    p.get('w')!.data,
    'the same audit seed gives the same perturbation',
  );
});
