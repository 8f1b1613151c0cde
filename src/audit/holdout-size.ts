import { holdoutCount } from '../trainer/data-order.js';

/**
 * How many records a run should hold out for its audit's memorization test to have power.
 *
 * The test's information is about the number of held-out records H (each audited segment gets
 * H/segments of them, against up to 256 members), and its standard error about 1/√(12·H). 400
 * records give power ≥ 0.95 to show training at all (`--unused-fraction 1`) at a per-segment AUC
 * of 0.58, the example MLPs' at batch 8, and against 50 % unused data (the default policy) at an
 * AUC of 0.9, a strong memorizer's (docs/audit.md, "Power"; measured with `npm run bench --
 * audit-power`). What the effect will be is unknown before training, so this is a floor, not a
 * guarantee: the audit measures the effect and states the power it actually had.
 */
export const RECOMMENDED_HELD_OUT = 400;
/** `--holdout auto` holds out at least this fraction, and never more than the cap. */
export const MIN_AUTO_HOLDOUT = 0.1;
export const MAX_AUTO_HOLDOUT = 0.3;

export interface HoldoutChoice {
  fraction: number;
  heldOut: number;
  /** Set when the run holds out fewer records than recommended. */
  warning?: string;
}

/**
 * The hold-out of a run over `records` records: `auto` picks the fraction that holds out
 * RECOMMENDED_HELD_OUT records, within [0.1, 0.3] (to six decimals, as the protocol allows); an
 * explicit fraction is kept. Either way a run that holds out fewer than recommended gets a warning.
 */
export function chooseHoldout(records: number, requested: number | 'auto'): HoldoutChoice {
  const fraction =
    requested === 'auto'
      ? Math.min(MAX_AUTO_HOLDOUT, Math.max(MIN_AUTO_HOLDOUT, leastFractionHolding(RECOMMENDED_HELD_OUT, records)))
      : requested;
  const heldOut = holdoutCount(records, fraction);
  if (fraction === 0 || heldOut >= RECOMMENDED_HELD_OUT) return { fraction, heldOut };
  const how =
    requested === 'auto'
      ? `the dataset has only ${records} records and --holdout auto stops at ${MAX_AUTO_HOLDOUT}`
      : `--holdout ${requested} of ${records} records`;
  return {
    fraction,
    heldOut,
    warning: `WARNING: this run holds out ${heldOut} records (${how}); the audit's memorization test is sized for at least ${RECOMMENDED_HELD_OUT}. With fewer, an audit is likely to be inconclusive unless the trainer memorizes strongly: the audit reports the power it had (docs/audit.md, "Power")`,
  };
}

/** The least fraction in millionths (the protocol's unit) whose ⌈n·f⌉ is at least `count`. */
function leastFractionHolding(count: number, records: number): number {
  return (Math.floor(((count - 1) * 1e6) / records) + 1) / 1e6;
}
