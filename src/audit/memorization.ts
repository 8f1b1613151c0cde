import { SeedStream } from '../trainer/seed-stream.js';
import { mannWhitneyGreater } from './mann-whitney.js';
import { normalQuantile, normalUpperTail } from './normal-distribution.js';

/**
 * The memorization test (Choi et al.'s "proof of training data"): a model that really took
 * gradient steps on a segment's records lowers their loss more than it lowers the loss of records
 * it never saw. For each record x of audited segment i,
 *     Δ(x) = ℓ(x; W_i) − ℓ(x; W_{i+1}),
 * and the records the transcript claims for segment i are ranked against held-out records with a
 * one-sided Mann–Whitney U. The held-out records are fixed by the commitment before training, so
 * under "the claimed records were not trained here" both groups are exchangeable and the rank test
 * needs no shadow models. Interpolated checkpoints, substituted data and never-trained claimed
 * records all leave Δ of the claimed records like that of the held-out.
 *
 * One segment of a real network carries little evidence: ten SGD steps move every record's loss,
 * and a record's own step adds only a small extra drop (per-segment AUCs of 0.44–0.80, most near
 * 0.55, for the Fashion-MNIST MLP at batch 32; far from any per-segment threshold). So the verdict
 * combines the audited segments, each weighted by the information it carries (decideMemorization:
 * van Elteren's stratified rank test), and states how well the combination could tell an honest
 * run from one that left a fraction of its claimed data unused (its power). For the segments to
 * be independent under the null, no record is sampled in two segments (memorizationSamples).
 */

/** Level of the memorization test. */
export const MEMORIZATION_ALPHA = 0.01;
/** Records per group and segment, at most. */
export const DEFAULT_MEMBERS = 256;
/** The unused fraction of the claimed data that a passing audit must rule out, by default. */
export const DEFAULT_UNUSED_FRACTION = 0.5;
/** The power against that fraction below which the verdict is `inconclusive`, by default. */
export const DEFAULT_REQUIRED_POWER = 0.95;
/** The unused fractions whose power every report states (1: "none of the claimed data was used"). */
export const REPORTED_UNUSED_FRACTIONS = [1, 0.5, 0.2] as const;

export interface MemorizationSample {
  members: number[];
  heldOut: number[];
}

export interface AuditedSegmentRecords {
  index: number;
  /** The record indices of each step of the segment, as the transcript claims. */
  batches: readonly (readonly number[])[];
}

/**
 * One sample per audited segment, all records distinct across segments: up to `size` records
 * trained in the segment (and not sampled for an earlier one), and up to `size` held-out records
 * from the segment's own slice of the held-out pool. Both are drawn with the verifier's audit
 * seed, so the prover cannot know which records are tested.
 */
export function memorizationSamples(
  segments: readonly AuditedSegmentRecords[],
  heldOut: readonly number[],
  size: number,
  auditSeed: Buffer,
): MemorizationSample[] {
  const pool = new SeedStream(auditSeed, 'aicert/audit/held-out').permutation(heldOut.length).map((j) => heldOut[j]!);
  const slice = Math.min(size, Math.floor(pool.length / Math.max(1, segments.length)));
  const used = new Set<number>();
  return segments.map(({ index, batches }, s) => {
    const trained = [...new Set(batches.flat())].filter((r) => !used.has(r));
    const members = new SeedStream(auditSeed, `aicert/audit/members/${index}`)
      .permutation(trained.length)
      .slice(0, size)
      .map((j) => trained[j]!);
    for (const r of members) used.add(r);
    return { members, heldOut: pool.slice(s * slice, (s + 1) * slice) };
  });
}

export interface MemorizationResult {
  members: number;
  heldOut: number;
  u: number;
  auc: number;
  /** Normal score of U; null when every loss drop was tied (no evidence either way). */
  z: number | null;
  p: number;
  medianDrop: { members: number; heldOut: number };
  /** Var(U) if members and held-out records were exchangeable (tie-corrected). */
  nullVariance: number;
  /** DeLong's estimate of Var(AUC) from the sample itself. */
  aucVariance: number;
}

/** `before` and `after` are the losses of members then held-out records (in sample order) under W_i and W_{i+1}. */
export function memorizationTest(
  sample: MemorizationSample,
  before: readonly number[],
  after: readonly number[],
): MemorizationResult {
  const drop = before.map((b, j) => b - after[j]!);
  const members = drop.slice(0, sample.members.length);
  const held = drop.slice(sample.members.length);
  const r = mannWhitneyGreater(members, held);
  return {
    members: members.length,
    heldOut: held.length,
    u: r.u,
    auc: r.auc,
    z: Number.isFinite(r.z) ? r.z : null,
    p: r.p,
    medianDrop: { members: median(members), heldOut: median(held) },
    nullVariance: r.nullVariance,
    aucVariance: r.aucVariance,
  };
}

export interface MemorizationPolicy {
  /** Level of both tests. */
  alpha: number;
  /** f: a pass must rule out that this fraction (or more) of the claimed records went unused. */
  unusedFraction: number;
  /** The power against f below which the verdict is inconclusive. */
  requiredPower: number;
}

export interface PowerAt {
  unusedFraction: number;
  /** P(an honest run of this size and measured effect passes the test against this fraction). */
  power: number;
}

export interface MemorizationVerdict {
  segments: number;
  /** Records tested, both groups over all segments. */
  members: number;
  heldOut: number;
  /** I = Σ n₁n₂/(n₁+n₂+1): the segments' information, in records (≈ held-out records when members outnumber them). */
  information: number;
  /** Van Elteren's stratified Mann–Whitney score against "no claimed record was trained"; 0 if all tied. */
  z: number;
  p: number;
  /** θ̂ = Σ Iᵢ·AUCᵢ / I: the information-weighted AUC, the measured effect. */
  auc: number;
  /** Its standard error, from the segments' DeLong variances. */
  aucStandardError: number;
  /** The test against "a fraction ≥ f of the claimed records went unused" (AUC ≤ 1 − f/2). */
  unusedFraction: number;
  unusedZ: number;
  unusedP: number;
  /**
   * The least unused fraction this audit rules out at level α (the test against f rejects for
   * every fraction from this one up): "at most this fraction of the claimed records went unused".
   */
  unusedBound: number;
  /** Power against each reported fraction and the policy's. */
  power: PowerAt[];
  requiredPower: number;
  /** The power against the policy's fraction reached the required power. */
  powered: boolean;
  alpha: number;
  outcome: 'passed' | 'failed' | 'inconclusive';
  /** Unweighted mean AUC over the segments, for reading. */
  meanAuc: number;
}

/**
 * One verdict from the audited segments' Mann–Whitney results (docs/audit.md, "One verdict").
 *
 * Weights: segment i carries Iᵢ = n₁n₂/(N+1), the inverse of its AUC's null variance over 12; a
 * late segment of a multi-epoch run with 2 members and 8 held-out records carries 1.5, a full one
 * with 256 and 8 carries 7.8, so tiny segments no longer count as much as full ones. Summing
 * (Uᵢ − n₁n₂/2)/(Nᵢ+1) is van Elteren's test, the locally most powerful rank test for an effect
 * common to all strata; as a Stouffer combination it weighs zᵢ by √(Var Uᵢ)/(Nᵢ+1).
 *
 * Two nulls, one statistic θ̂ = Σ Iᵢ AUCᵢ / Σ Iᵢ:
 *  - none of the claimed records was trained (AUC = ½, members exchangeable with held-out
 *    records): the exact rank test Z, with the tie-corrected null variance.
 *  - a fraction f or more went unused. An unused record's drop is exchangeable with a held-out
 *    record's (AUC ½ against them), a used one's beats them at most always (AUC ≤ 1), so the
 *    members' AUC is at most 1 − f/2, reached when the used records beat every held-out record:
 *    that least favourable case also gives the variance used, Var = f(fn₁ + n₂ + 1)/(12n₁n₂) +
 *    f(1−f)/(4n₁) (the unused members' rank test plus their binomial count), or DeLong's
 *    estimate when larger. It assumes nothing about how strongly a trained record is learned,
 *    which is why only strong memorizers can rule out large fractions.
 * Power against f: the chance that an honest run with the measured effect θ̂ at this size rejects
 * the second null, Φ((θ̂ − (1 − f/2) − z_α·se_f) / se), se from DeLong. Passed only if both nulls
 * are rejected and the power against the policy's f reaches the required power; inconclusive when
 * the power falls short: the audit cannot then tell this run from one that left f of its data
 * unused. The power is computed at the measured effect, so it is high only when θ̂ clears the
 * bound by z_α + z_power standard errors: a pass needs that margin, and a run that reaches the
 * power and still does not pass (possible only at the edge) fails.
 */
export function decideMemorization(
  results: readonly MemorizationResult[],
  policy: MemorizationPolicy,
): MemorizationVerdict {
  if (results.length === 0) throw new RangeError('the memorization test needs at least one segment');
  const weights = results.map((r) => (r.members * r.heldOut) / (r.members + r.heldOut + 1));
  const information = weights.reduce((a, b) => a + b, 0);
  const share = weights.map((w) => w / information);
  // Van Elteren: Σ (Uᵢ − n₁n₂/2 − ½)/(Nᵢ+1) over Σ Var(Uᵢ)/(Nᵢ+1)²; a fully tied segment carries nothing.
  let numerator = 0;
  let variance = 0;
  for (const r of results) {
    if (!(r.nullVariance > 0)) continue;
    const scale = r.members + r.heldOut + 1;
    numerator += (r.u - (r.members * r.heldOut) / 2 - 0.5) / scale;
    variance += r.nullVariance / scale ** 2;
  }
  // Every drop tied everywhere: no evidence either way, Z = 0 and p = 1 (not ½).
  const z = variance > 0 ? numerator / Math.sqrt(variance) : 0;
  const p = variance > 0 ? Math.min(1, normalUpperTail(z)) : 1;
  const auc = results.reduce((sum, r, i) => sum + share[i]! * r.auc, 0);
  const se = Math.sqrt(results.reduce((sum, r, i) => sum + share[i]! ** 2 * r.aucVariance, 0));
  const zAlpha = normalQuantile(1 - policy.alpha);
  const against = (f: number) => {
    const seF = Math.sqrt(
      results.reduce((sum, r, i) => sum + share[i]! ** 2 * Math.max(r.aucVariance, boundaryVariance(r, f)), 0),
    );
    const bound = 1 - f / 2;
    const margin = auc - bound - zAlpha * seF;
    const power = se > 0 ? normalUpperTail(-margin / se) : margin >= 0 ? 1 : 0;
    // se_f > 0: the boundary variance is positive for every f > 0.
    return { z: (auc - bound) / seF, power };
  };
  const policyTest = against(policy.unusedFraction);
  const fractions = [...new Set([...REPORTED_UNUSED_FRACTIONS, policy.unusedFraction])];
  const power = fractions.map((f) => ({
    unusedFraction: f,
    power: f === policy.unusedFraction ? policyTest.power : against(f).power,
  }));
  const unusedP = Math.min(1, normalUpperTail(policyTest.z));
  // The test's score against f grows with f (the bound 1 − f/2 falls faster than se_f grows): bisect.
  let low = 0;
  let high = 1;
  if (against(1).z < zAlpha) low = 1;
  else
    for (let step = 0; step < 40; step++) {
      const mid = (low + high) / 2;
      if (against(mid).z >= zAlpha) high = mid;
      else low = mid;
    }
  const powered = policyTest.power >= policy.requiredPower;
  const trained = p <= policy.alpha;
  return {
    segments: results.length,
    members: results.reduce((sum, r) => sum + r.members, 0),
    heldOut: results.reduce((sum, r) => sum + r.heldOut, 0),
    information,
    z,
    p,
    auc,
    aucStandardError: se,
    unusedFraction: policy.unusedFraction,
    unusedZ: policyTest.z,
    unusedP,
    unusedBound: low === 1 ? 1 : high,
    power,
    requiredPower: policy.requiredPower,
    powered,
    alpha: policy.alpha,
    // Below the required power the audit cannot tell an honest run from one that left f of its data
    // unused, whatever it measured: inconclusive, never failed (a weak memorizer's honest run often
    // shows no training at all). With the power, not passing is a finding: failed.
    outcome: !powered ? 'inconclusive' : trained && unusedP <= policy.alpha ? 'passed' : 'failed',
    meanAuc: results.reduce((sum, r) => sum + r.auc, 0) / results.length,
  };
}

/**
 * Var(AUC) of a segment in the least favourable case of "a fraction f of the claimed records went
 * unused": f·n₁ members exchangeable with the n₂ held-out records (their Mann–Whitney null
 * variance), the others above every held-out record, and the number of unused members binomial.
 */
function boundaryVariance(r: MemorizationResult, f: number): number {
  const n1 = r.members;
  const n2 = r.heldOut;
  return (f * (f * n1 + n2 + 1)) / (12 * n1 * n2) + (f * (1 - f)) / (4 * n1);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
