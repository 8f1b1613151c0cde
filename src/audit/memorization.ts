import { SeedStream } from '../trainer/seed-stream.js';
import { mannWhitneyGreater } from './mann-whitney.js';

/**
 * The memorization test of one audited segment i (Choi et al.'s "proof of training data"): a
 * model that really took gradient steps on the segment's records lowers their loss more than it
 * lowers the loss of records it never saw. For each record x,
 *     Δ(x) = ℓ(x; W_i) − ℓ(x; W_{i+1}),
 * and the records the transcript claims for segment i are tested against held-out records with a
 * one-sided Mann–Whitney U. The held-out records are fixed by the commitment before training, so
 * under "the claimed records were not trained here" both groups are exchangeable and the rank test
 * is exact in distribution (no shadow models needed). Interpolated checkpoints, substituted data
 * and never-trained claimed records all leave Δ of the claimed records like that of the held-out.
 */

export interface MemorizationSample {
  members: number[];
  heldOut: number[];
}

/**
 * Up to `size` distinct records trained in the segment and as many held-out records, each drawn
 * uniformly with the verifier's audit seed (so the prover cannot know which records are tested).
 */
export function memorizationSample(segment: number, segmentBatches: readonly number[][], heldOut: readonly number[], size: number, auditSeed: Buffer): MemorizationSample {
  const trained = [...new Set(segmentBatches.flat())];
  const n = Math.min(size, trained.length, heldOut.length);
  const draw = (pool: readonly number[], label: string) =>
    new SeedStream(auditSeed, `aicert/audit/${label}/${segment}`)
      .permutation(pool.length)
      .slice(0, n)
      .map((j) => pool[j]!);
  return { members: draw(trained, 'members'), heldOut: draw(heldOut, 'held-out') };
}

export interface MemorizationResult {
  members: number;
  heldOut: number;
  u: number;
  auc: number;
  z: number | null;
  p: number;
  threshold: number;
  passed: boolean;
  medianDrop: { members: number; heldOut: number };
}

/**
 * `before` and `after` are the losses of members then held-out records (in sample order) under
 * W_i and W_{i+1}. Passes when p ≤ threshold (α divided by the number of audited segments).
 */
export function memorizationTest(sample: MemorizationSample, before: readonly number[], after: readonly number[], threshold: number): MemorizationResult {
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
    threshold,
    passed: r.p <= threshold,
    medianDrop: { members: median(members), heldOut: median(held) },
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
