import { normalUpperTail } from './normal-distribution.js';

export interface MannWhitneyResult {
  /** U of the first sample: the number of (x, y) pairs with x > y, ties counting one half. */
  u: number;
  /** U / (n₁·n₂): the probability that a random x exceeds a random y (ties half), i.e. the ROC AUC. */
  auc: number;
  /** The tie- and continuity-corrected normal score of U; −∞ when every value is tied. */
  z: number;
  /** One-sided p-value for "x tends to be larger than y". */
  p: number;
  n1: number;
  n2: number;
  /** Var(U) when x and y are exchangeable, tie-corrected: n₁n₂/12 · ((N+1) − Σ(t³−t)/(N(N−1))). */
  nullVariance: number;
  /**
   * DeLong's estimate of Var(AUC) under whatever distributions x and y come from: s²(placements of
   * x)/n₁ + s²(placements of y)/n₂, where x's placement is the fraction of y below it (ties half).
   * It is what the effect's confidence interval and the test's power need (memorization.ts).
   */
  aucVariance: number;
}

/**
 * One-sided Mann–Whitney U test that the values of `x` tend to be larger than those of `y`.
 *
 * Mid-ranks for ties; the normal approximation with the tie-corrected variance
 *   σ² = n₁n₂/12 · ((N+1) − Σ(t³−t)/(N(N−1)))
 * and a continuity correction of ½ toward the null, so p is never smaller than it should be
 * (this is also what scipy's `mannwhitneyu(x, y, alternative='greater', method='asymptotic')`
 * computes). The samples here are hundreds of values, where the approximation is accurate.
 * When every value is tied there is no evidence at all, and p = 1.
 */
export function mannWhitneyGreater(x: readonly number[], y: readonly number[]): MannWhitneyResult {
  const n1 = x.length;
  const n2 = y.length;
  if (n1 === 0 || n2 === 0)
    throw new RangeError(`Mann–Whitney U needs two non-empty samples (got ${n1} and ${n2} values)`);
  if ([...x, ...y].some((v) => !Number.isFinite(v))) throw new RangeError('Mann–Whitney U needs finite values');
  const { rankSumOfFirst, tieTerm } = midRanks(x, y);
  const n = n1 + n2;
  const u = rankSumOfFirst - (n1 * (n1 + 1)) / 2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  const z = variance > 0 ? (u - mean - 0.5) / Math.sqrt(variance) : Number.NEGATIVE_INFINITY;
  return {
    u,
    auc: u / (n1 * n2),
    z,
    p: Math.min(1, normalUpperTail(z)),
    n1,
    n2,
    nullVariance: variance,
    aucVariance: delongVariance(x, y),
  };
}

/**
 * DeLong, DeLong and Clarke-Pearson (1988): each x's placement V₁₀ = P̂(y < x) (ties half), each
 * y's V₀₁ = P̂(x > y); Var(AUC) ≈ s²(V₁₀)/n₁ + s²(V₀₁)/n₂ with sample variances (a group of one
 * value contributes 0). Placements come from mid-ranks: the rank of x in the pooled sample minus
 * its rank among the x's counts the y below it.
 */
function delongVariance(x: readonly number[], y: readonly number[]): number {
  const pooled = midRankOf([...x, ...y]);
  const withinX = midRankOf(x);
  const withinY = midRankOf(y);
  const n1 = x.length;
  const n2 = y.length;
  const v10 = x.map((_, i) => (pooled[i]! - withinX[i]!) / n2);
  const v01 = y.map((_, j) => 1 - (pooled[n1 + j]! - withinY[j]!) / n1);
  return sampleVariance(v10) / n1 + sampleVariance(v01) / n2;
}

/** The 1-based mid-rank of every value, in input order. */
function midRankOf(values: readonly number[]): number[] {
  const order = values.map((value, index) => ({ value, index })).sort((a, b) => a.value - b.value);
  const ranks = new Array<number>(values.length);
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && order[end]!.value === order[start]!.value) end++;
    for (let i = start; i < end; i++) ranks[order[i]!.index] = (start + 1 + end) / 2;
    start = end;
  }
  return ranks;
}

function sampleVariance(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (values.length - 1);
}

/** Rank sum of `x` in the pooled sample (mid-ranks for ties) and Σ(t³ − t) over tie groups. */
function midRanks(x: readonly number[], y: readonly number[]): { rankSumOfFirst: number; tieTerm: number } {
  const pooled = [...x.map((value) => ({ value, first: true })), ...y.map((value) => ({ value, first: false }))];
  pooled.sort((a, b) => a.value - b.value);
  let rankSumOfFirst = 0;
  let tieTerm = 0;
  for (let start = 0; start < pooled.length; ) {
    let end = start + 1;
    while (end < pooled.length && pooled[end]!.value === pooled[start]!.value) end++;
    const t = end - start;
    const rank = (start + 1 + end) / 2; // mean of the 1-based ranks start+1 … end
    for (let i = start; i < end; i++) if (pooled[i]!.first) rankSumOfFirst += rank;
    tieTerm += t * t * t - t;
    start = end;
  }
  return { rankSumOfFirst, tieTerm };
}
