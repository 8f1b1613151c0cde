import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  decideMemorization,
  DEFAULT_REQUIRED_POWER,
  DEFAULT_UNUSED_FRACTION,
  MEMORIZATION_ALPHA,
  memorizationSamples,
  memorizationTest,
} from '../../src/audit/memorization.js';
import { mannWhitneyGreater } from '../../src/audit/mann-whitney.js';
import { normalUpperTail } from '../../src/audit/normal-distribution.js';
import { SeedStream } from '../../src/trainer/seed-stream.js';
import { gaussian } from './fixtures/toy-data.js';
import { seededBytes } from '../util/property.js';

const seed = (label: string) => createHash('sha256').update(label).digest();
const segment7 = {
  index: 7,
  batches: [
    [1, 2, 3, 4],
    [5, 6, 7, 8],
    [9, 10, 2, 11],
  ],
};
const segment8 = {
  index: 8,
  batches: [
    [12, 13, 1, 2],
    [14, 15, 3, 16],
  ],
};
const heldOut = Array.from({ length: 50 }, (_, i) => 100 + i);

test('a segment samples the distinct records it trained, and held-out records from its own slice of the pool', () => {
  const [s] = memorizationSamples([segment7], heldOut, 256, seed('a'));
  assert.deepEqual(
    [...s!.members].sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
  );
  assert.equal(s!.heldOut.length, 50, 'one audited segment gets the whole pool, up to the size');
  assert.equal(new Set(s!.heldOut).size, 50);
  assert.ok(s!.heldOut.every((r) => heldOut.includes(r)));
});

test('no record is sampled in two segments, so their scores are independent under the null', () => {
  const [a, b] = memorizationSamples([segment7, segment8], heldOut, 256, seed('a'));
  assert.equal(a!.heldOut.length, 25);
  assert.equal(b!.heldOut.length, 25);
  const all = [...a!.members, ...a!.heldOut, ...b!.members, ...b!.heldOut];
  assert.equal(new Set(all).size, all.length);
  assert.deepEqual(
    [...b!.members].sort((x, y) => x - y),
    [12, 13, 14, 15, 16],
    'records 1, 2, 3 went to segment 7 already',
  );
});

test('sample sizes are capped, and the draw follows the audit seed', () => {
  const a = memorizationSamples([segment7, segment8], heldOut, 5, seed('a'));
  assert.deepEqual(
    a.map((s) => [s.members.length, s.heldOut.length]),
    [
      [5, 5],
      [5, 5],
    ],
  );
  assert.deepEqual(memorizationSamples([segment7, segment8], heldOut, 5, seed('a')), a);
  assert.notDeepEqual(memorizationSamples([segment7, segment8], heldOut, 5, seed('b')), a);
});

const sample = {
  members: Array.from({ length: 40 }, (_, i) => i),
  heldOut: Array.from({ length: 40 }, (_, i) => 100 + i),
};
const before = Array.from({ length: 80 }, () => 2);

test('a segment whose trained records lost more loss than held-out ones scores high; no difference scores nothing', () => {
  const learned = before.map((b, j) => (j < 40 ? b - 0.5 - 0.01 * j : b - 0.01 * (j - 40)));
  const trained = memorizationTest(sample, before, learned);
  assert.equal(trained.auc, 1);
  assert.ok(trained.p < 1e-10 && trained.z! > 6);
  assert.ok(trained.medianDrop.members > trained.medianDrop.heldOut);

  const same = before.map((b, j) => b - 0.01 * (j % 40));
  const untrained = memorizationTest(sample, before, same);
  assert.equal(untrained.auc, 0.5);
  assert.ok(untrained.p > 0.4);
});

const policy = {
  alpha: MEMORIZATION_ALPHA,
  unusedFraction: DEFAULT_UNUSED_FRACTION,
  requiredPower: DEFAULT_REQUIRED_POWER,
};

/**
 * One simulated segment: loss drops of `members` claimed records, a fraction `unused` of them
 * never trained (drop ~ N(0, 1), like the held-out records), the others trained (N(shift, 1)).
 */
function simulatedSegment(stream: SeedStream, members: number, heldOut: number, shift: number, unused = 0) {
  const sample = {
    members: Array.from({ length: members }, (_, i) => i),
    heldOut: Array.from({ length: heldOut }, (_, i) => members + i),
  };
  const before = Array.from({ length: members + heldOut }, () => 0);
  const after = Array.from({ length: members + heldOut }, (_, j) => {
    const trained = j < members && stream.unit() >= unused;
    return -(gaussian(stream) + (trained ? shift : 0));
  });
  return memorizationTest(sample, before, after);
}

test('a segment carries the information of its sample: van Elteren equals Stouffer weighted by √Var(U)/(N+1)', () => {
  const stream = new SeedStream(seededBytes(32, 'van Elteren'), 'segments');
  const results = [
    simulatedSegment(stream, 200, 8, 0.3),
    simulatedSegment(stream, 3, 8, 0.3),
    simulatedSegment(stream, 60, 20, 0.3),
  ];
  const v = decideMemorization(results, policy);
  const weights = results.map((r) => Math.sqrt(r.nullVariance) / (r.members + r.heldOut + 1));
  const stouffer =
    results.reduce((sum, r, i) => sum + weights[i]! * r.z!, 0) / Math.sqrt(weights.reduce((a, w) => a + w * w, 0));
  assert.ok(Math.abs(v.z - stouffer) < 1e-9, `${v.z} vs weighted Stouffer ${stouffer}`);
  const information = results.map((r) => (r.members * r.heldOut) / (r.members + r.heldOut + 1));
  assert.ok(Math.abs(v.information - information.reduce((a, b) => a + b, 0)) < 1e-12);
  assert.ok(information[1]! < information[0]! / 3, 'a 3-member segment weighs less than a third of a full one');
  const auc = results.reduce((sum, r, i) => sum + information[i]! * r.auc, 0) / v.information;
  assert.ok(Math.abs(v.auc - auc) < 1e-12, 'the measured effect is the information-weighted AUC');
});

test('tiny segments no longer outvote full ones: many 1-member segments at AUC 1 and one null full segment', () => {
  const sample = (members: number, heldOut: number) => ({
    members: Array.from({ length: members }, (_, i) => i),
    heldOut: Array.from({ length: heldOut }, (_, i) => 1000 + i),
  });
  // Twelve late segments with one member each, that member's drop above all 3 held-out drops.
  const tiny = Array.from({ length: 12 }, () => memorizationTest(sample(1, 3), [0, 0, 0, 0], [-1, 0, 0, 0]));
  // One full segment that shows nothing: members and held-out drops interleaved.
  const full = memorizationTest(
    sample(200, 40),
    Array.from({ length: 240 }, () => 0),
    Array.from({ length: 240 }, (_, j) => -((j < 200 ? j : (j - 200) * 5 + 2.5) / 200)),
  );
  const unweighted = [...tiny, full].reduce((sum, r) => sum + r.z!, 0) / Math.sqrt(13);
  const v = decideMemorization([...tiny, full], policy);
  assert.ok(unweighted > 2.33, `counted equally, the tiny segments would pass at α (Z = ${unweighted.toFixed(2)})`);
  assert.ok(v.z < 2.33 && v.outcome !== 'passed', `weighted: Z = ${v.z.toFixed(2)}, ${v.outcome}`);
});

test('no evidence, all ties, or weak evidence: inconclusive (the power against 50 % unused is nil), never passed', () => {
  const stream = new SeedStream(seededBytes(32, 'weak'), 'segments');
  const none = decideMemorization(
    Array.from({ length: 20 }, () => simulatedSegment(stream, 80, 10, 0)),
    policy,
  );
  assert.equal(none.outcome, 'inconclusive', `Z = ${none.z}: no training shows, and the power is nil`);
  assert.ok(none.p > 0.01);
  const tiedSample = { members: [1, 2], heldOut: [3, 4] };
  const tied = memorizationTest(tiedSample, [1, 1, 1, 1], [0, 0, 0, 0]);
  const allTied = decideMemorization([tied, tied], policy);
  assert.equal(allTied.z, 0, 'every drop tied is no evidence either way');
  assert.equal(allTied.p, 1);
  assert.equal(allTied.outcome, 'inconclusive');
  // AUC ≈ 0.6 over 40 segments: training shows, but a strong memorizer with half its data
  // unused looks the same, and the bound 1 − f/2 = 0.75 is out of reach.
  const weak = decideMemorization(
    Array.from({ length: 40 }, () => simulatedSegment(stream, 100, 20, 0.36)),
    policy,
  );
  assert.ok(weak.p < 1e-6, `training shows: p = ${weak.p}`);
  assert.equal(weak.outcome, 'inconclusive');
  assert.ok(weak.power.find((x) => x.unusedFraction === 0.5)!.power < 0.01);
  assert.ok(weak.power.find((x) => x.unusedFraction === 1)!.power > 0.95, 'it could show training at all');
  assert.ok(weak.unusedBound > 0.6 && weak.unusedBound < 1, `rules out only > ${weak.unusedBound} unused`);
});

/** The estimated power of, and the outcomes over, `runs` simulated audits of one configuration. */
function simulate(
  label: string,
  runs: number,
  shift: number,
  unused: number,
  segments = 20,
  members = 100,
  heldOut = 10,
) {
  const stream = new SeedStream(seededBytes(32, label), 'runs');
  return Array.from({ length: runs }, () =>
    decideMemorization(
      Array.from({ length: segments }, () => simulatedSegment(stream, members, heldOut, shift, unused)),
      policy,
    ),
  );
}

test('power ≥ 0.95 ⇒ honest simulations pass, and 50 %-dropped ones are detected (not passed) ≥ 95 % of the time', () => {
  // AUC = Φ(shift/√2): 0.95 for shift 2.33, 0.98 for 2.9.
  for (const shift of [2.33, 2.9]) {
    const honest = simulate(`honest ${shift}`, 100, shift, 0);
    const powered = honest.filter((v) => v.powered);
    assert.ok(powered.length >= 0.9 * honest.length, `shift ${shift}: ${powered.length} of 100 powered`);
    assert.ok(powered.every((v) => v.outcome === 'passed'));
    const dropped = simulate(`dropped ${shift}`, 100, shift, 0.5);
    const detected = dropped.filter((v) => v.outcome !== 'passed').length;
    assert.ok(detected >= 0.95 * dropped.length, `shift ${shift}: ${detected} of 100 dropped runs detected`);
  }
});

test('the test against 50 % unused holds its level in the least favourable case: trained records beat every held-out one', () => {
  // Used records' drops far above every held-out drop (AUC 1): the members' AUC is exactly 1 − f/2.
  const dropped = simulate('least favourable', 300, 40, 0.5);
  const rejected = dropped.filter((v) => v.unusedP <= MEMORIZATION_ALPHA).length;
  // 300 runs at α = 0.01: 3 expected; ≥ 10 would have probability below 0.2 %.
  assert.ok(rejected < 10, `${rejected} of 300 rejected "50 % unused" at α = 0.01`);
  assert.ok(dropped.every((v) => v.outcome !== 'passed'));
});

test('the power estimate is calibrated: the pass rate of honest runs of one configuration matches its mean estimate', () => {
  // A configuration near the edge (AUC ≈ 0.83, 12 segments of 60 + 6), where the power is neither 0 nor 1.
  const estimates = simulate('calibration estimates', 200, 1.35, 0, 12, 60, 6);
  const mean = estimates.reduce((sum, v) => sum + v.power.find((x) => x.unusedFraction === 0.5)!.power, 0) / 200;
  // The estimated power is what it says if "passing" were judged against 0.5 alone (p ≤ α), so compare with that.
  const rejected = estimates.filter((v) => v.unusedP <= MEMORIZATION_ALPHA).length / 200;
  assert.ok(mean > 0.15 && mean < 0.95, `the configuration is at the edge: mean estimated power ${mean.toFixed(2)}`);
  assert.ok(Math.abs(rejected - mean) < 0.15, `estimated ${mean.toFixed(2)}, observed ${rejected.toFixed(2)}`);
});

test('the normal tail and the DeLong variance agree with direct computation', () => {
  const r = mannWhitneyGreater([3, 1, 4, 1, 5], [9, 2, 6]);
  // Placements by hand: x → fraction of y below (ties half): 3→1/3, 1→0, 4→1/3, 1→0, 5→1/3;
  // y → fraction of x above: 9→0, 2→3/5, 6→0.
  const variance = (v: number[]) => {
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    return v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1);
  };
  const expected = variance([1 / 3, 0, 1 / 3, 0, 1 / 3]) / 5 + variance([0, 3 / 5, 0]) / 3;
  assert.ok(Math.abs(r.aucVariance - expected) < 1e-12, `${r.aucVariance} vs ${expected}`);
  assert.ok(Math.abs(normalUpperTail(2.326347874) - 0.01) < 1e-9);
});
