import { z } from 'zod';
import { InputError } from '../errors.js';
import { describeSchemaError } from '../util/schema-error.js';

/**
 * What `aicert audit` prints with --json and writes with --out: every check with its reason,
 * the selected segments with their replay and memorization results, the calibration, the
 * detection guarantee and the cost. `aicert endorse` reads it back, so it is a versioned,
 * schema-checked format.
 */
export const AUDIT_REPORT_MEDIA_TYPE = 'application/vnd.aicert.audit-report.v1+json';

const hex32 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits');
const count = z.number().int().nonnegative();
const real = z.number().finite();

const checkSchema = z.strictObject({ id: z.string(), status: z.enum(['ok', 'failed', 'skipped']), reason: z.string() });

export const toleranceSchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('exact') }),
  z.strictObject({ mode: z.literal('relative'), delta: real.positive() }),
  z.strictObject({ mode: z.literal('calibrated') }),
]);
export type Tolerance = z.infer<typeof toleranceSchema>;

const replaySchema = z.strictObject({
  accepted: z.boolean(),
  /** The replayed checkpoint file has exactly the digest the TPM recorded for checkpoint i+1. */
  digestEqual: z.boolean(),
  /** ‖W′ − W_{i+1}‖₂ over weights (W′ the replayed weights); absent when they could not be compared. */
  distance: real.nonnegative().optional(),
  /** ‖W′ − W_i‖₂: the update the replay made. */
  replayedUpdate: real.nonnegative().optional(),
  /** The same two distances for the optimizer state (tensors under "optimizer/"), measured apart. */
  optimizerDistance: real.nonnegative().optional(),
  optimizerReplayedUpdate: real.nonnegative().optional(),
  reason: z.string(),
});

const memorizationSchema = z.strictObject({
  members: count,
  heldOut: count,
  /** Mann–Whitney U of the members' loss drops against the held-out records'. */
  u: real,
  auc: real,
  /** Normal score of U; null when every loss drop was tied (no evidence). */
  z: real.nullable(),
  /** One-sided p of this segment alone (read it, the verdict is on the combination). */
  p: real,
  /** Median loss drop of the members and of the held-out records. */
  medianDrop: z.strictObject({ members: real, heldOut: real }),
  /** Var(U) were both groups exchangeable (tie-corrected), and DeLong's estimate of Var(AUC). */
  nullVariance: real.nonnegative(),
  aucVariance: real.nonnegative(),
});

export const segmentReportSchema = z.strictObject({
  index: count,
  firstStep: count,
  steps: count,
  chosenBy: z.enum(['top-q', 'random']),
  /** ‖W_{i+1} − W_i‖₂ over weights, from the transcript. */
  updateNorm: real.nonnegative(),
  /** ‖O_{i+1} − O_i‖₂ over the optimizer state; the top-Q ranking weighs both (update-norms.ts). */
  optimizerUpdateNorm: real.nonnegative().optional(),
  replay: replaySchema.optional(),
  memorization: memorizationSchema.optional(),
});
export type SegmentReport = z.infer<typeof segmentReportSchema>;

const calibrationSchema = z.strictObject({
  segments: z.array(count),
  /** Per calibration segment: ‖W′ − W̃′‖₂ / ‖W′ − W_i‖₂, W̃′ replayed from a rounding-perturbed W_i. */
  ratios: z.array(real.nonnegative()),
  margin: real.positive(),
  /** The tolerance used: margin × the largest ratio. */
  delta: real.nonnegative(),
  maxDelta: real.positive(),
});

/**
 * The audited segments' Mann–Whitney results combined, weighted by their information (van
 * Elteren), the measured effect, the power, and the outcome (memorization.ts, decideMemorization).
 */
const combinedMemorizationSchema = z.strictObject({
  segments: count,
  members: count,
  heldOut: count,
  /** Σ n₁n₂/(n₁+n₂+1) over the segments. */
  information: real.nonnegative(),
  /** Score and p against "no claimed record was trained". */
  z: real,
  p: real,
  /** The information-weighted AUC and its standard error. */
  auc: real,
  aucStandardError: real.nonnegative(),
  /** The policy's unused fraction f, and the test against "f or more went unused". */
  unusedFraction: real,
  unusedZ: real,
  unusedP: real,
  /** The least unused fraction ruled out at level α. */
  unusedBound: real,
  power: z.array(z.strictObject({ unusedFraction: real, power: real })),
  requiredPower: real,
  powered: z.boolean(),
  alpha: real.positive(),
  outcome: z.enum(['passed', 'failed', 'inconclusive']),
  meanAuc: real,
});

const costSchema = z.strictObject({
  totalSteps: count,
  /** Training steps re-executed: audited segments plus calibration replays. */
  replayedSteps: count,
  /** Per-record forward passes of the memorization test. */
  lossEvaluations: count,
  /** lossEvaluations / (3 × batch size): a training step is about three forward passes of a batch. */
  lossStepEquivalents: real.nonnegative(),
  replayFraction: real.nonnegative(),
  totalFraction: real.nonnegative(),
});

export const auditReportSchema = z.strictObject({
  mediaType: z.literal(AUDIT_REPORT_MEDIA_TYPE),
  certificate: z.string(),
  /** SHA-256 of the certificate file audited. */
  certificateSha256: hex32,
  /** `inconclusive`: every check passed but the memorization test had too little power (exit 1). */
  verdict: z.enum(['passed', 'failed', 'inconclusive', 'unusable']),
  exitStatus: z.union([z.literal(0), z.literal(1), z.literal(2)]),
  /** The verifier's randomness behind the random segments and the memorization samples. */
  auditSeed: hex32,
  parameters: z.strictObject({
    topQ: count,
    random: count,
    tolerance: toleranceSchema,
    members: count,
    alpha: real.positive(),
    /** The unused fraction a pass must rule out, and the power against it a pass needs. */
    unusedFraction: real,
    requiredPower: real,
  }),
  /** How many segments were drawn, sized to the run (audit-size.ts), and why fewer than asked. */
  size: z.strictObject({ topQ: count, random: count, note: z.string().optional() }).optional(),
  run: z
    .strictObject({
      seed: hex32,
      checkpointEvery: count,
      steps: count,
      segments: count,
      batchSize: count,
      records: count,
      heldOut: count,
      hyperparameters: z.record(z.string(), z.unknown()),
    })
    .optional(),
  checks: z.array(checkSchema),
  /** The certificate verification the audit started with (`aicert verify`'s checks). */
  verification: z.strictObject({ verdict: z.string(), akTrust: z.unknown().optional(), checks: z.array(checkSchema) }),
  segments: z.array(segmentReportSchema),
  calibration: calibrationSchema.optional(),
  memorization: combinedMemorizationSchema.optional(),
  detection: z.strictObject({
    fakeFraction: real,
    random: count,
    /** 1 − (1 − f)^m. */
    probability: real,
    /** The exact value for this run's segment count, drawing without replacement. */
    withoutReplacement: real.optional(),
  }),
  cost: costSchema.optional(),
});
export type AuditReport = z.infer<typeof auditReportSchema>;
export type Calibration = z.infer<typeof calibrationSchema>;
export type AuditCost = z.infer<typeof costSchema>;

/** Parses an audit report (e.g. for `aicert endorse`); shape errors are `InputError`s. */
export function parseAuditReport(json: unknown): AuditReport {
  const parsed = auditReportSchema.safeParse(json);
  if (!parsed.success)
    throw new InputError(
      'audit.report-schema',
      `not a valid aicert audit report: ${describeSchemaError(parsed.error)}`,
    );
  return parsed.data;
}
