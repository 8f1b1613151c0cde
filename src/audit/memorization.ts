import { SeedStream } from '../trainer/seed-stream.js';
import { mannWhitneyGreater } from './mann-whitney.js';
import { normalUpperTail } from './normal-distribution.js';

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
 * 0.55, for the Fashion-MNIST MLP; far from any per-segment threshold). So the verdict combines the audited segments: Stouffer's
 * Z = Σ zᵢ / √m over their Mann–Whitney scores, one-sided at α. For the zᵢ to be independent
 * under the null, no record is sampled in two segments (memorizationSamples).
 */

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
  };
}

export interface CombinedMemorization {
  segments: number;
  /** Stouffer's Z = Σ zᵢ / √m; a segment with every drop tied counts as zᵢ = 0. */
  z: number;
  /** One-sided p of Z. */
  p: number;
  alpha: number;
  passed: boolean;
  /** Mean AUC over the segments, for reading (the decision is on Z). */
  meanAuc: number;
}

export function combineMemorization(results: readonly MemorizationResult[], alpha: number): CombinedMemorization {
  if (results.length === 0) throw new RangeError('the memorization test needs at least one segment');
  const z = results.reduce((sum, r) => sum + (r.z ?? 0), 0) / Math.sqrt(results.length);
  const p = normalUpperTail(z);
  return {
    segments: results.length,
    z,
    p,
    alpha,
    passed: p <= alpha,
    meanAuc: results.reduce((sum, r) => sum + r.auc, 0) / results.length,
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
