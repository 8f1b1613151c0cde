import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeReplay } from '../../src/audit/replay-acceptance.js';
import type { Checkpoint } from '../../src/trainer/index.js';

const model = (...w: number[]): Checkpoint =>
  new Map([
    ['w', { dtype: 'F32', shape: [w.length], data: Float32Array.from(w) }],
    ['optimizer/w', { dtype: 'F32', shape: [w.length], data: new Float32Array(w.length) }],
  ]);
const norm = (a: number[], b: number[]) => Math.hypot(...a.map((x, i) => x - b[i]!));

test('exact: only the same digest is accepted, however close the weights', () => {
  const before = model(0, 0);
  const claimed = model(1, 0);
  const replayed = model(1, 1e-7);
  assert.equal(judgeReplay({ mode: 'exact' }, true, { before, claimed, replayed: claimed }, 1).accepted, true);
  const near = judgeReplay({ mode: 'exact' }, false, { before, claimed, replayed }, 1);
  assert.equal(near.accepted, false);
  assert.ok(Math.abs(near.distance - 1e-7) < 1e-9);
});

test('relative: a replay within δ of the claim and of the same size is accepted; distances ignore optimizer state', () => {
  const before = model(0, 0);
  const claimed = model(1, 0);
  const replayed = model(1, 1e-4);
  replayed.get('optimizer/w')!.data.fill(5);
  const r = judgeReplay({ mode: 'relative', delta: 1e-3 }, false, { before, claimed, replayed }, 1);
  assert.equal(r.accepted, true, r.reason);
  assert.ok(Math.abs(r.replayedUpdate - norm([1, 1e-4], [0, 0])) < 1e-7);
});

test('relative: the infinitesimal-update spoof is rejected although its absolute distance is tiny', () => {
  // The claimed step is 1e-3 long, the replay (logged learning rate ≈ 0) moved 1e-9: absolutely
  // close (PoL's absolute ℓ2 δ is 10), relatively a thousand times off.
  const before = model(0, 0);
  const claimed = model(1e-3, 0);
  const replayed = model(1e-9, 0);
  const r = judgeReplay({ mode: 'relative', delta: 1e-2 }, false, { before, claimed, replayed }, 1e-3);
  assert.equal(r.accepted, false);
  assert.ok(r.distance < 10);
  assert.match(r.reason, /lands elsewhere/);
});

test('relative: an update of the right direction but the wrong size is rejected by the norm clause', () => {
  const before = model(0, 0);
  const claimed = model(1, 0);
  const replayed = model(1.0005, 0);
  const ok = judgeReplay({ mode: 'relative', delta: 1e-3 }, false, { before, claimed, replayed }, 1);
  assert.equal(ok.accepted, true);
  // Same replay, but the transcript claims its update was twice as long as it is.
  const r = judgeReplay({ mode: 'relative', delta: 1e-3 }, false, { before, claimed, replayed }, 2);
  assert.equal(r.accepted, false);
  assert.match(r.reason, /update sizes differ/);
});

test('checkpoints of different models cannot be compared: the audit fails', () => {
  const other: Checkpoint = new Map([['v', { dtype: 'F32', shape: [2], data: new Float32Array(2) }]]);
  assert.throws(() => judgeReplay({ mode: 'exact' }, false, { before: model(0, 0), claimed: model(1, 0), replayed: other }, 1), { code: 'audit.checkpoint-shape' });
});
