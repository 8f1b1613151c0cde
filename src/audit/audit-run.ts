import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AicertError, EnvironmentError, UsageError, VerificationError } from '../errors.js';
import type { TrustAnchors } from '../evidence/ak-trust.js';
import { HashPool } from '../measure/hash-pool.js';
import { Checklist } from '../verify/checklist.js';
import type { VerifiedRun } from '../verify/verified-run.js';
import { verifyCertificate } from '../verify/verify-certificate.js';
import { readTrainingState, type TranscriptMeta } from '../trainer/index.js';
import { checkpointPath } from '../protocol/transcript-layout.js';
import {
  AUDIT_REPORT_MEDIA_TYPE,
  type AuditReport,
  type Calibration,
  type SegmentReport,
  type Tolerance,
} from './audit-report.js';
import { auditCost } from './audit-cost.js';
import { calibrate, CALIBRATION_MARGIN, CALIBRATION_SEGMENTS, MAX_CALIBRATED_DELTA } from './calibration.js';
import { checkBatches, checkMeta, type CommittedOrder } from './committed-schedule.js';
import {
  DEFAULT_RANDOM_SEGMENTS,
  detectionProbability,
  detectionProbabilityWithoutReplacement,
  REFERENCE_FAKE_FRACTION,
} from './detection-probability.js';
import {
  decideMemorization,
  DEFAULT_REQUIRED_POWER,
  DEFAULT_UNUSED_FRACTION,
  MEMORIZATION_ALPHA,
  memorizationSamples,
  memorizationTest,
  type MemorizationResult,
  type MemorizationVerdict,
} from './memorization.js';
import { auditSize, type AuditSize } from './audit-size.js';
import { locateRecordFile } from './record-file.js';
import { judgeReplay, type ReplayTolerance } from './replay-acceptance.js';
import { trainerRunOf, type TrainerRun } from './trainer-run.js';
import { selectSegments, type SelectedSegment } from './segment-selection.js';
import { TrainerClient } from './trainer-client.js';
import type { RunTrainer } from './trainer-invocation.js';
import { checkTranscriptIntegrity } from './transcript-integrity.js';
import { rankingScores, segmentUpdateNorms } from './update-norms.js';
import { stateDistance, type StateDistance } from './state-distance.js';

export interface AuditOptions {
  certificate: Uint8Array;
  /** How the report names the certificate (its path). */
  certificateName: string;
  transcript: string;
  /** The verifier's copy of the trainer's dataset (the --data input the commitment names). */
  data: string;
  /** The verifier's copy of the training code, re-hashed against the certificate if given. */
  code?: string;
  trust: TrustAnchors;
  allowUntrustedAk: boolean;
  /** Answers init, replay and loss requests: normally `commandTrainer(TRAIN_COMMAND, timeout)`. */
  runTrainer: RunTrainer;
  topQ: number;
  /** Segments drawn at random; undefined: sized to the run (audit-size.ts). */
  random?: number;
  tolerance: Tolerance;
  /** Records per group of the memorization test, at most. */
  members: number;
  /** The unused fraction of the claimed data a pass must rule out (default 0.5). */
  unusedFraction?: number;
  /** The power against it below which the verdict is inconclusive (default 0.95). */
  requiredPower?: number;
  /** 32 bytes of the verifier's randomness: random segments, memorization samples, calibration noise. */
  auditSeed: Buffer;
  log?: (line: string) => void;
}

export { DEFAULT_MEMBERS, MEMORIZATION_ALPHA } from './memorization.js';

/** Every step of an audit, in the order it runs them (docs/audit.md). */
export const AUDIT_CHECKS = [
  'certificate',
  'code',
  'trainer.commitment',
  'data',
  'transcript.integrity',
  'transcript.meta',
  'transcript.batches',
  'init',
  'segments.selection',
  'calibration',
  'replay',
  'memorization',
] as const;
export type AuditCheckId = (typeof AUDIT_CHECKS)[number];

/**
 * Audits a certified training run (docs/audit.md). Reads as the list of steps it runs;
 * each records `ok` with what it established or `failed` with why, and the first failure ends the
 * list, as in `aicert verify`: nothing after a failed step is believed.
 */
export async function auditRun(o: AuditOptions): Promise<AuditReport> {
  const audit = await Audit.begin(o);
  const checks = audit.checks;
  try {
    await checks.run(async () => {
      const run = await checks.step(
        'certificate',
        () => audit.verifyCertificate(),
        (r) => `the certificate verifies (AK trust ${describeTrust(r)})`,
      );
      audit.noteCode();
      const evidence = await checks.step(
        'trainer.commitment',
        () => trainerRunOf(run),
        (e) =>
          `seed s = ${e.commitment.seed.slice(0, 16)}…, k = ${e.commitment.checkpointEvery}, held out ${e.commitment.holdoutFraction}, ${e.checkpoints.length} checkpoints measured live`,
      );
      const records = await checks.step(
        'data',
        () => locateRecordFile(o.data, evidence, audit.pool),
        (r) => `${o.data} is the certified dataset "${r.input}" (${r.records} records)`,
      );
      await checks.step(
        'transcript.integrity',
        () => checkTranscriptIntegrity(audit.transcript, evidence.checkpoints, evidence.transcript, audit.pool),
        () =>
          `all ${evidence.checkpoints.length} checkpoints have the digests the TPM recorded as they were written, and the transcript is the one measured after the run`,
      );
      const meta = await checks.step(
        'transcript.meta',
        () => checkMeta(audit.transcript, evidence.commitment, records.records, evidence.checkpoints.length),
        (m) => `${m.steps} steps of batch ${m.batchSize}, k = ${m.k}, ${m.records} records, framework ${m.framework}`,
      );
      const order = await checks.step(
        'transcript.batches',
        () => checkBatches(audit.transcript, evidence.commitment, meta),
        (b) =>
          `every step trained on exactly the batch derived from s; no step touched one of the ${b.heldOut.length} held-out records`,
      );
      const trainer = audit.connect(evidence, records.path, meta, order);
      await checks.step(
        'init',
        () => audit.checkInit(trainer, evidence),
        () => 'init mode derives checkpoint 0 from s bit for bit',
      );
      const selected = await checks.step(
        'segments.selection',
        () => audit.selectSegments(meta, evidence),
        (s) => audit.describeSelection(s),
      );
      const tolerance =
        o.tolerance.mode === 'calibrated'
          ? await checks.step(
              'calibration',
              () => audit.calibrate(trainer, selected),
              () => audit.describeCalibration(),
            )
          : audit.fixedTolerance(o.tolerance);
      await checks.step(
        'replay',
        () => audit.replaySegments(trainer, evidence, tolerance),
        (n) => `all ${n} selected segments were reproduced (${describeTolerance(tolerance)})`,
      );
      await checks.step(
        'memorization',
        () => audit.testMemorization(trainer, meta, order),
        (m) =>
          `the claimed records of ${m.segments} audited segments lost more loss than held-out records (${describeEffect(m)}), and at most ${pct(m.unusedBound)} of them can have gone unused: power ${m.power.find((x) => x.unusedFraction === m.unusedFraction)!.power.toFixed(3)} ≥ ${m.requiredPower} against ${pct(m.unusedFraction)} unused`,
      );
    });
  } finally {
    await audit.close();
  }
  return audit.report();
}

class Audit {
  readonly checks = new Checklist(AUDIT_CHECKS);
  readonly transcript: string;
  /** One hashing pool for the dataset and the transcript: worker threads are costly to start. */
  readonly pool = new HashPool();
  private verification: AuditReport['verification'] = { verdict: 'not run', checks: [] };
  private run: AuditReport['run'];
  private segments: SegmentReport[] = [];
  private calibration: Calibration | undefined;
  private memorization: MemorizationVerdict | undefined;
  private size: AuditSize | undefined;
  private trainer: TrainerClient | undefined;
  private meta: TranscriptMeta | undefined;
  /** Every segment's update, weights and optimizer state apart. */
  private norms: StateDistance[] = [];

  private constructor(
    private readonly o: AuditOptions,
    private readonly work: string,
  ) {
    this.transcript = resolve(o.transcript);
  }

  static async begin(o: AuditOptions): Promise<Audit> {
    for (const [flag, path] of [
      ['--transcript', o.transcript],
      ['--data', o.data],
    ] as const) {
      if (!existsSync(path)) throw new UsageError('usage.missing-input', `${flag} ${path} does not exist`);
    }
    if (o.auditSeed.length !== 32)
      throw new UsageError('usage.seed', `the audit seed must be 32 bytes, got ${o.auditSeed.length}`);
    if (o.topQ + (o.random ?? 1) < 1)
      throw new UsageError('usage.segments', 'nothing would be replayed: give --q or --random at least 1');
    const f = o.unusedFraction ?? DEFAULT_UNUSED_FRACTION;
    if (!(f > 0 && f <= 1))
      throw new UsageError('usage.unused-fraction', `the unused fraction must be above 0 and at most 1, got ${f}`);
    const power = o.requiredPower ?? DEFAULT_REQUIRED_POWER;
    if (!(power > 0 && power < 1))
      throw new UsageError('usage.power', `the required power must be between 0 and 1, got ${power}`);
    if (!(o.members >= 1))
      throw new UsageError('usage.members', 'the memorization test needs at least one record per group');
    return new Audit(o, await mkdtemp(join(tmpdir(), 'aicert-audit-')));
  }

  /** The run, if the certificate verifies; its checks go into the report either way. */
  async verifyCertificate(): Promise<VerifiedRun> {
    const { report: r, run } = await verifyCertificate(this.o.certificate, this.o.certificateName, {
      trust: this.o.trust,
      allowUntrustedAk: this.o.allowUntrustedAk,
      code: this.o.code,
    });
    this.verification = { verdict: r.verdict, ...(r.akTrust && { akTrust: r.akTrust }), checks: r.checks };
    if (run) return run;
    const failed = r.checks.find((c) => c.status === 'failed');
    const why = `the certificate does not verify: ${failed?.id ?? 'verdict'}: ${failed?.reason ?? r.verdict}`;
    throw r.exitStatus === 2
      ? new UsageError('usage.certificate', why)
      : new VerificationError('audit.certificate', why);
  }

  /** Whether the code the trainer command runs was re-hashed against the certificate (verification's artifact.code). */
  noteCode(): void {
    const code = this.verification.checks.find((c) => c.id === 'artifact.code');
    if (this.o.code && code?.status === 'ok') this.checks.ok('code', code.reason);
    else this.checks.skipped('code', 'no --code given: nothing shows that the trainer command runs the certified code');
  }

  /** Records the run's facts for the report, and returns the client that asks its trainer. */
  connect(evidence: TrainerRun, recordFile: string, meta: TranscriptMeta, order: CommittedOrder): TrainerClient {
    const c = evidence.commitment;
    this.meta = meta;
    this.run = {
      seed: c.seed,
      checkpointEvery: c.checkpointEvery,
      steps: meta.steps,
      segments: evidence.checkpoints.length - 1,
      batchSize: meta.batchSize,
      records: meta.records,
      heldOut: order.heldOut.length,
      hyperparameters: meta.hyperparameters,
    };
    const run = {
      seed: c.seed,
      checkpointEvery: c.checkpointEvery,
      holdoutFraction: c.holdoutFraction,
      dataset: recordFile,
    };
    this.trainer = new TrainerClient(run, this.o.runTrainer, this.work, this.transcript, meta);
    return this.trainer;
  }

  async checkInit(trainer: TrainerClient, evidence: TrainerRun): Promise<void> {
    this.log('init: deriving W0 from s');
    const path = await trainer.init();
    const digest = sha256(await readFile(path));
    const claimed = evidence.checkpoints[0]!;
    if (digest === claimed.sha256) return;
    const distance = stateDistance(
      await readTrainingState(path),
      await readTrainingState(checkpointPath(this.transcript, 0)),
      "init mode's W0 and checkpoint 0",
    );
    throw new VerificationError(
      'audit.init',
      `checkpoint 0 (sha256 ${claimed.sha256}) is not the W0 that init mode derives from s (sha256 ${digest}; ‖ΔW‖₂ = ${distance.weights.toPrecision(3)}, ‖ΔO‖₂ = ${distance.optimizer.toPrecision(3)} for the optimizer state): the initialization was not derived from the committed seed`,
    );
  }

  async selectSegments(meta: TranscriptMeta, evidence: TrainerRun): Promise<SelectedSegment[]> {
    this.log(`ranking ${evidence.checkpoints.length - 1} segments by update norm`);
    const norms = await segmentUpdateNorms(this.transcript, evidence.checkpoints.length);
    this.norms = norms;
    this.size = auditSize(norms.length, this.o.topQ, this.o.random);
    if (this.size.note) this.log(this.size.note);
    const selected = selectSegments(rankingScores(norms), this.size.topQ, this.size.random, this.o.auditSeed);
    this.segments = selected.map(({ index, chosenBy }) => {
      const steps = segmentSteps(meta, index);
      return {
        index,
        chosenBy,
        firstStep: steps[0] ?? 0,
        steps: steps.length,
        updateNorm: norms[index]!.weights,
        optimizerUpdateNorm: norms[index]!.optimizer,
      };
    });
    return selected;
  }

  describeSelection(selected: SelectedSegment[]): string {
    const top = selected.filter((s) => s.chosenBy === 'top-q').map((s) => s.index);
    const random = selected.filter((s) => s.chosenBy === 'random').map((s) => s.index);
    const of = this.run ? ` of ${this.run.segments} segments` : '';
    const note = this.size?.note ? ` (${this.size.note})` : '';
    return `top-${this.size?.topQ ?? this.o.topQ} by update norm: [${top.join(', ')}]; ${random.length} drawn with the audit seed: [${random.join(', ')}]${of}${note}`;
  }

  fixedTolerance(t: Exclude<Tolerance, { mode: 'calibrated' }>): ReplayTolerance {
    this.checks.skipped('calibration', `not needed: --tolerance ${t.mode === 'exact' ? 'exact' : t.delta}`);
    return t;
  }

  /** Calibrated mode: measures the honest reproduction error on this setup, and δ from it. */
  async calibrate(trainer: TrainerClient, selected: SelectedSegment[]): Promise<ReplayTolerance> {
    // Random segments first: which ones calibrate must be as unpredictable as which ones are audited.
    const order = [...selected].sort((a, b) => Number(a.chosenBy === 'top-q') - Number(b.chosenBy === 'top-q'));
    const segments = order.slice(0, CALIBRATION_SEGMENTS).map((s) => s.index);
    this.log(`calibrating the tolerance on segments ${segments.join(', ')}`);
    const result = await calibrate(segments, this.transcript, this.o.auditSeed, (i, start) => trainer.replay(i, start));
    this.calibration = { ...result, margin: CALIBRATION_MARGIN, maxDelta: MAX_CALIBRATED_DELTA };
    return { mode: 'relative', delta: result.delta };
  }

  describeCalibration(): string {
    const c = this.calibration!;
    return `a one-ulp perturbation moved honest replays of segments ${c.segments.join(', ')} by at most ${Math.max(...c.ratios).toPrecision(3)} of their update; δ = ${CALIBRATION_MARGIN} × that = ${c.delta.toPrecision(3)}`;
  }

  /** Replays every selected segment and judges each; fails if any is not reproduced. */
  async replaySegments(trainer: TrainerClient, evidence: TrainerRun, tolerance: ReplayTolerance): Promise<number> {
    const rejected: string[] = [];
    for (const segment of this.segments) {
      const i = segment.index;
      this.log(`replaying segment ${i} (${segment.chosenBy}, ${segment.steps} steps)`);
      try {
        const path = await trainer.replay(i);
        const digestEqual = sha256(await readFile(path)) === evidence.checkpoints[i + 1]!.sha256;
        const [before, claimed, replayed] = await Promise.all([
          readTrainingState(checkpointPath(this.transcript, i)),
          readTrainingState(checkpointPath(this.transcript, i + 1)),
          readTrainingState(path),
        ]);
        segment.replay = judgeReplay(tolerance, digestEqual, { before, claimed, replayed }, this.norms[i]!);
      } catch (err) {
        if (!(err instanceof AicertError) || err instanceof EnvironmentError || err instanceof UsageError) throw err;
        segment.replay = { accepted: false, digestEqual: false, reason: err.message };
      }
      if (!segment.replay.accepted) rejected.push(`segment ${i} (${segment.chosenBy}): ${segment.replay.reason}`);
    }
    if (rejected.length > 0) {
      throw new VerificationError(
        'audit.replay',
        `${rejected.length} of ${this.segments.length} audited segments were not reproduced by replaying their recorded batches: ${rejected.slice(0, 3).join('; ')}${rejected.length > 3 ? '; …' : ''}`,
      );
    }
    return this.segments.length;
  }

  /**
   * The memorization test on every audited segment, combined into one verdict (memorization.ts):
   * the claimed records of the audited segments, taken together, lost more loss than held-out
   * records did, at level α.
   */
  async testMemorization(
    trainer: TrainerClient,
    meta: TranscriptMeta,
    order: CommittedOrder,
  ): Promise<MemorizationVerdict> {
    if (order.heldOut.length === 0) {
      throw new VerificationError(
        'audit.memorization',
        'the run held out no records (it was certified with --holdout 0), so the memorization test cannot run: nothing shows that the claimed records were trained on; certify runs with --holdout > 0 (the default sizes it to the data)',
      );
    }
    if (order.heldOut.length < this.segments.length) {
      throw new VerificationError(
        'audit.memorization',
        `the run held out ${order.heldOut.length} records, fewer than the ${this.segments.length} audited segments need (one each at least); certify runs with a larger --holdout`,
      );
    }
    const audited = this.segments.map(({ index }) => ({
      index,
      batches: segmentSteps(meta, index).map((t) => order.batches[t]!),
    }));
    const samples = memorizationSamples(audited, order.heldOut, this.o.members, this.o.auditSeed);
    const results: MemorizationResult[] = [];
    for (const [j, segment] of this.segments.entries()) {
      const sample = samples[j]!;
      // A record trained again in a later epoch may all have been sampled for an earlier segment.
      if (sample.members.length === 0) continue;
      this.log(`memorization test on segment ${segment.index}`);
      const records = [...sample.members, ...sample.heldOut];
      const before = await trainer.loss(segment.index, records);
      const after = await trainer.loss(segment.index + 1, records);
      segment.memorization = memorizationTest(sample, before, after);
      results.push(segment.memorization);
    }
    if (results.length === 0)
      throw new VerificationError('audit.memorization', 'no audited segment trained a record that could be tested');
    const m = decideMemorization(results, {
      alpha: MEMORIZATION_ALPHA,
      unusedFraction: this.o.unusedFraction ?? DEFAULT_UNUSED_FRACTION,
      requiredPower: this.o.requiredPower ?? DEFAULT_REQUIRED_POWER,
    });
    this.memorization = m;
    const power = m.power.find((x) => x.unusedFraction === m.unusedFraction)!.power;
    const shown =
      m.p <= m.alpha
        ? `training on the claimed records shows (${describeEffect(m)})`
        : `nothing shows that the claimed records were trained on (${describeEffect(m)}, p > α = ${m.alpha})`;
    if (m.outcome === 'inconclusive') {
      throw new VerificationError(
        INCONCLUSIVE,
        `inconclusive: ${shown}, and this test cannot tell the run from one that left ${pct(m.unusedFraction)} of its data unused: power ${power.toFixed(3)} < ${m.requiredPower} (it rules out only more than ${pct(m.unusedBound)} unused; ${m.heldOut} held-out records, information ${m.information.toFixed(0)}); certify with a larger --holdout, or the trainer memorizes too little per segment`,
      );
    }
    if (m.outcome === 'failed') {
      throw new VerificationError(
        'audit.memorization',
        `${shown}; with power ${power.toFixed(3)} against ${pct(m.unusedFraction)} unused, this audit does not rule that out (p = ${m.unusedP.toPrecision(3)} > α)`,
      );
    }
    return m;
  }

  async close(): Promise<void> {
    await this.pool.close();
    await rm(this.work, { recursive: true, force: true });
  }

  report(): AuditReport {
    const failure = this.checks.failure;
    const status = failure === undefined ? 0 : failure.error instanceof UsageError ? 2 : 1;
    const inconclusive = failure?.error instanceof AicertError && failure.error.code === INCONCLUSIVE;
    const topQ = this.size?.topQ ?? this.o.topQ;
    const population = this.run ? Math.max(0, this.run.segments - topQ) : undefined;
    const asked = this.o.random ?? DEFAULT_RANDOM_SEGMENTS;
    const draws = this.size?.random ?? (population === undefined ? asked : Math.min(asked, population));
    return {
      mediaType: AUDIT_REPORT_MEDIA_TYPE,
      certificate: this.o.certificateName,
      certificateSha256: sha256(this.o.certificate),
      verdict: status === 0 ? 'passed' : status === 2 ? 'unusable' : inconclusive ? 'inconclusive' : 'failed',
      exitStatus: status,
      auditSeed: this.o.auditSeed.toString('hex'),
      parameters: {
        topQ: this.o.topQ,
        random: asked,
        tolerance: this.o.tolerance,
        members: this.o.members,
        alpha: MEMORIZATION_ALPHA,
        unusedFraction: this.o.unusedFraction ?? DEFAULT_UNUSED_FRACTION,
        requiredPower: this.o.requiredPower ?? DEFAULT_REQUIRED_POWER,
      },
      ...(this.size && {
        size: { topQ: this.size.topQ, random: this.size.random, ...(this.size.note && { note: this.size.note }) },
      }),
      ...(this.run && { run: this.run }),
      checks: this.checks.results,
      verification: this.verification,
      segments: this.segments,
      ...(this.calibration && { calibration: this.calibration }),
      ...(this.memorization && { memorization: this.memorization }),
      detection: {
        fakeFraction: REFERENCE_FAKE_FRACTION,
        random: draws,
        probability: detectionProbability(REFERENCE_FAKE_FRACTION, draws),
        ...(population !== undefined &&
          population > 0 && {
            withoutReplacement: detectionProbabilityWithoutReplacement(
              population,
              Math.ceil(REFERENCE_FAKE_FRACTION * population),
              draws,
            ),
          }),
      },
      ...(this.meta &&
        this.trainer && {
          cost: auditCost(
            this.meta.steps,
            this.meta.batchSize,
            this.trainer.replayedSteps,
            this.trainer.lossEvaluations,
          ),
        }),
    };
  }

  private log(line: string): void {
    this.o.log?.(line);
  }
}

/** The error code of an audit whose every check passed but whose memorization test lacked power. */
export const INCONCLUSIVE = 'audit.inconclusive';

function describeEffect(m: MemorizationVerdict): string {
  return `AUC ${m.auc.toFixed(3)} ± ${m.aucStandardError.toFixed(3)} weighted by information, Z = ${m.z.toFixed(2)}, p = ${m.p.toPrecision(3)}`;
}

function pct(x: number): string {
  return `${(100 * x).toFixed(0)} %`;
}

function describeTrust(run: VerifiedRun): string {
  return run.akTrust.level === 'untrusted'
    ? 'untrusted, UNTRUSTED key accepted by --allow-untrusted-ak'
    : run.akTrust.level;
}

function describeTolerance(t: ReplayTolerance): string {
  return t.mode === 'exact'
    ? 'exact: same digest'
    : `relative distance and update norm within δ = ${t.delta.toPrecision(3)}`;
}

/** The steps of segment i: from i·k up to (i+1)·k, the last segment possibly shorter. */
function segmentSteps(meta: TranscriptMeta, segment: number): number[] {
  const first = segment * meta.k;
  const end = Math.min(first + meta.k, meta.steps);
  return Array.from({ length: Math.max(0, end - first) }, (_, j) => first + j);
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
