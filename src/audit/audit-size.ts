import {
  DEFAULT_RANDOM_SEGMENTS,
  detectionProbability,
  detectionProbabilityWithoutReplacement,
  REFERENCE_FAKE_FRACTION,
} from './detection-probability.js';

/** How many segments an audit replays, sized to the run. */
export interface AuditSize {
  segments: number;
  topQ: number;
  random: number;
  /** Why fewer segments are drawn than asked for, when they are. */
  note?: string;
}

/**
 * The top-Q and random draws for a run of `segments` segments. Q and an explicit m are only
 * capped by what exists. The default m (`random` undefined) is sized to the run: the fewest draws
 * whose exact detection probability for this run's non-top segments, drawing without replacement,
 * is at least the default's guarantee 1 − 0.9^45 at a 10 % fake fraction. On a long run that is
 * 45 (a little fewer: without replacement is stronger); on a short one far fewer than all
 * segments (a 42-segment run needs 29 of its 40 non-top segments), where 45 would replay
 * everything at more than the training's cost.
 */
export function auditSize(segments: number, topQ: number, random: number | undefined): AuditSize {
  const q = Math.min(topQ, segments);
  const population = segments - q;
  if (random !== undefined) {
    const m = Math.min(random, population);
    return {
      segments,
      topQ: q,
      random: m,
      ...(m < random && {
        note: `--random ${random} capped at the run's ${population} segments outside the top-${q}`,
      }),
    };
  }
  const target = detectionProbability(REFERENCE_FAKE_FRACTION, DEFAULT_RANDOM_SEGMENTS);
  const fake = Math.ceil(REFERENCE_FAKE_FRACTION * population);
  let m = 0;
  while (m < Math.min(DEFAULT_RANDOM_SEGMENTS, population)) {
    if (population > 0 && detectionProbabilityWithoutReplacement(population, fake, m) >= target) break;
    m++;
  }
  return {
    segments,
    topQ: q,
    random: m,
    ...(m < DEFAULT_RANDOM_SEGMENTS && {
      note: `${m} random segments instead of ${DEFAULT_RANDOM_SEGMENTS}: for this run's ${population} non-top segments they already catch a ${100 * REFERENCE_FAKE_FRACTION} % fake fraction with probability ≥ ${(100 * target).toFixed(2)} %`,
    }),
  };
}
