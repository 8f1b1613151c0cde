/**
 * How likely the random part of the segment selection is to hit at least one fake segment.
 *
 * If a fraction f of the segments the top-Q pass leaves are fake and m of them are drawn
 * uniformly, the chance of missing every fake one is at most (1 − f)^m (independent draws);
 * drawing without replacement, as the audit does, only lowers it. Defaults follow from the
 * target "catch a 10 % fake fraction with ≥ 99 %": (0.9)^m ≤ 0.01 ⇔ m ≥ 43.7, so m = 45
 * (99.13 %), and Q = 2 top-update segments as in the Proof-of-Learning reference code.
 */
export const REFERENCE_FAKE_FRACTION = 0.1;
export const DEFAULT_RANDOM_SEGMENTS = 45;
export const DEFAULT_TOP_Q = 2;

/** 1 − (1 − f)^m: the guarantee for any number of segments. */
export function detectionProbability(fakeFraction: number, draws: number): number {
  return 1 - (1 - fakeFraction) ** draws;
}

/**
 * The exact chance that m draws without replacement from `population` segments, of which
 * `fake` are fake, include at least one: 1 − C(population − fake, m) / C(population, m).
 */
export function detectionProbabilityWithoutReplacement(population: number, fake: number, draws: number): number {
  if (draws > population - fake) return 1;
  let miss = 1;
  for (let j = 0; j < draws; j++) miss *= (population - fake - j) / (population - j);
  return 1 - miss;
}
