import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeReplay } from '../../src/audit/replay-acceptance.js';
import type { StateDistance } from '../../src/audit/state-distance.js';
import type { Checkpoint } from '../../src/trainer/index.js';

const model = (...w: number[]): Checkpoint =>
  new Map([
    ['w', { dtype: 'F32', shape: [w.length], data: Float32Array.from(w) }],
    ['optimizer/w', { dtype: 'F32', shape: [w.length], data: new Float32Array(w.length) }],
  ]);
const norm = (a: number[], b: number[]) => Math.hypot(...a.map((x, i) => x - b[i]!));
/** A claimed update of `weights` with no optimizer state change. */
const claim = (weights: number, optimizer = 0): StateDistance => ({ weights, optimizer });

test('exact: only the same digest is accepted, however close the weights', () => {
  const before = model(0, 0);
  const claimed = model(1, 0);
  const replayed = model(1, 1e-7);
  assert.equal(judgeReplay({ mode: 'exact' }, true, { before, claimed, replayed: claimed }, claim(1)).accepted, true);
  const near = judgeReplay({ mode: 'exact' }, false, { before, claimed, replayed }, claim(1));
  assert.equal(near.accepted, false);
  assert.ok(Math.abs(near.distance - 1e-7) < 1e-9);
});

test('relative: a replay within δ of the claim and of the same size is accepted', () => {
  const before = model(0, 0);
  const claimed = model(1, 0);
  const replayed = model(1, 1e-4);
  const r = judgeReplay({ mode: 'relative', delta: 1e-3 }, false, { before, claimed, replayed }, claim(1));
  assert.equal(r.accepted, true, r.reason);
  assert.ok(Math.abs(r.replayedUpdate - norm([1, 1e-4], [0, 0])) < 1e-7);
});

test('relative: the optimizer state is judged too, on its own scale: same weights but other momentum is rejected', () => {
  const before = model(0, 0);
  const claimed = model(1, 0);
  claimed.get('optimizer/w')!.data.set([0.5, 0]);
  const replayed = model(1, 0);
  replayed.get('optimizer/w')!.data.set([0.5, 1e-5]);
  const close = judgeReplay({ mode: 'relative', delta: 1e-3 }, false, { before, claimed, replayed }, claim(1, 0.5));
  assert.equal(close.accepted, true, close.reason);
  // The claimed checkpoint carries momentum the replay did not produce; its weights are exact.
  claimed.get('optimizer/w')!.data.set([-40, 7]);
  const forged = judgeReplay(
    { mode: 'relative', delta: 1e-2 },
    false,
    { before, claimed, replayed },
    claim(1, Math.hypot(40, 7)),
  );
  assert.equal(forged.accepted, false);
  assert.equal(forged.distance, 0, 'the weights are reproduced exactly');
  assert.ok(forged.optimizerDistance > 40);
  assert.match(forged.reason, /^optimizer state: the replay lands elsewhere/);
  // A large weight update does not loosen the bound on the optimizer state (they are judged apart).
  const big = judgeReplay(
    { mode: 'relative', delta: 1e-2 },
    false,
    { before, claimed: model(1000, 0), replayed: model(1000, 0) },
    claim(1000),
  );
  assert.equal(big.accepted, true, big.reason);
  const bigForged = model(1000, 0);
  bigForged.get('optimizer/w')!.data.set([0.1, 0]);
  assert.equal(
    judgeReplay(
      { mode: 'relative', delta: 1e-2 },
      false,
      { before, claimed: bigForged, replayed: model(1000, 0) },
      claim(1000, 0.1),
    ).accepted,
    false,
  );
});

test('relative: the infinitesimal-update spoof is rejected although its absolute distance is tiny', () => {
  // The claimed step is 1e-3 long, the replay (logged learning rate ≈ 0) moved 1e-9: absolutely
  // close (PoL's absolute ℓ2 δ is 10), relatively a thousand times off.
  const before = model(0, 0);
  const claimed = model(1e-3, 0);
  const replayed = model(1e-9, 0);
  const r = judgeReplay({ mode: 'relative', delta: 1e-2 }, false, { before, claimed, replayed }, claim(1e-3));
  assert.equal(r.accepted, false);
  assert.ok(r.distance < 10);
  assert.match(r.reason, /lands elsewhere/);
});

test('relative: an update of the right direction but the wrong size is rejected by the norm clause', () => {
  const before = model(0, 0);
  const claimed = model(1, 0);
  const replayed = model(1.0005, 0);
  const ok = judgeReplay({ mode: 'relative', delta: 1e-3 }, false, { before, claimed, replayed }, claim(1));
  assert.equal(ok.accepted, true);
  // Same replay, but the transcript claims its update was twice as long as it is.
  const r = judgeReplay({ mode: 'relative', delta: 1e-3 }, false, { before, claimed, replayed }, claim(2));
  assert.equal(r.accepted, false);
  assert.match(r.reason, /update sizes differ/);
});

test('checkpoints of different models, or a replay without the optimizer state, cannot be compared: the audit fails', () => {
  const other: Checkpoint = new Map([['v', { dtype: 'F32', shape: [2], data: new Float32Array(2) }]]);
  assert.throws(
    () =>
      judgeReplay({ mode: 'exact' }, false, { before: model(0, 0), claimed: model(1, 0), replayed: other }, claim(1)),
    { code: 'audit.checkpoint-shape' },
  );
  const weightsOnly: Checkpoint = new Map([['w', { dtype: 'F32', shape: [2], data: Float32Array.of(1, 0) }]]);
  assert.throws(
    () =>
      judgeReplay(
        { mode: 'exact' },
        false,
        { before: model(0, 0), claimed: model(1, 0), replayed: weightsOnly },
        claim(1),
      ),
    /not states of the same training: 1 against 2 tensors/,
  );
});
