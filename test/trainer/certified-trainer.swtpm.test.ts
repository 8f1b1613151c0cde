import { auditRun, DEFAULT_MEMBERS } from '../../src/audit/audit-run.js';
import { commandTrainer } from '../../src/audit/trainer-invocation.js';
import type { AuditReport, Tolerance } from '../../src/audit/audit-report.js';
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { certifiedRun, type RunOptions } from '../../src/run/certified-run.js';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import { NO_TRUST_ANCHORS } from '../../src/evidence/ak-trust.js';
import { batchSchedule, readBatches, readTranscriptMeta, splitHoldout } from '../../src/trainer/index.js';

/**
 * End to end on a swtpm: `aicert run` with a protocol trainer (the TF.js and the PyTorch example,
 * on the example's 3,000 training images, 30 % held out), the certificate verified including the
 * trainer commitment, every checkpoint event matching the file the trainer left in the
 * transcript, and the audit of an honest run: init and replays pass, the memorization test finds the training.
 *
 * Sizes: one epoch of batch 8 (262 steps, 27 segments of k = 10) and 900 held-out records, so the
 * 10 audited segments get 90 held-out records each. The memorization test then reaches
 * Z ≈ 4–6 on both trainers, usually power ≥ 0.95 to show that the claimed data was trained on: the
 * audit then passes with --unused-fraction 1 (and is inconclusive, saying so, on the runs that
 * fall short). These MLPs memorize too little per segment (AUC ≈ 0.57) to rule out that half the
 * data went unused, so at the default policy (0.5) their honest audits
 * are inconclusive, which the report's power says (docs/audit.md, "Power").
 */
const repo = fileURLToPath(new URL('../../..', import.meta.url));
const EXAMPLE_DATA = join(repo, 'examples/fashion-mnist/data');
const K = 10;
const BATCH = 8;
const HOLDOUT = 0.3;
const TRAIN_OPTIONS = ['--epochs', '1', '--batch-size', String(BATCH)];

describe('certified runs of protocol trainers on swtpm', () => {
  let work: string;
  let sim: Simulator;
  let data: string;
  const saved = { AICERT_HOME: process.env.AICERT_HOME, PYTHONDONTWRITEBYTECODE: process.env.PYTHONDONTWRITEBYTECODE };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-certified-trainer-'));
    process.env.AICERT_HOME = join(work, 'home');
    // The trainer itself must keep Python from writing __pycache__ into the measured code directory.
    delete process.env.PYTHONDONTWRITEBYTECODE;
    sim = await startSimulator();
    // The dataset input: a directory whose train.jsonl is the trainer's record file.
    data = join(work, 'data');
    await mkdir(data);
    for (const file of ['train.jsonl', 'test.jsonl']) await copyFile(join(EXAMPLE_DATA, file), join(data, file));
  });
  after(async () => {
    await sim?.stop();
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function certifyAndCheck(
    name: string,
    code: string,
    command: (output: string) => string[],
  ): Promise<{ certificate: Buffer; transcript: string }> {
    const output = join(work, name, 'model');
    const transcript = join(work, name, 'transcript');
    const options: RunOptions = {
      code,
      data: [data],
      output,
      certificatePath: `${output}.aicert.json`,
      tpm: sim.address,
      pcr: 23,
      command: command(output),
      certifyFailure: false,
      trainer: { transcript, checkpointEvery: K, holdoutFraction: HOLDOUT, dataset: join(data, 'train.jsonl') },
      log: () => undefined,
    };
    const result = await certifiedRun(options);
    assert.equal(result.outcome.exitCode, 0, 'the trainer (its stderr is above) failed');
    const bytes = await readFile(result.certificatePath!);
    const { report } = await verifyCertificate(bytes, name, {
      allowUntrustedAk: true,
      trust: NO_TRUST_ANCHORS,
      model: output,
      data: [data],
      code,
    });
    assert.equal(report.verdict, 'verified', JSON.stringify(report.checks.filter((c) => c.status === 'failed')));
    assert.equal(report.checks.find((c) => c.id === 'trainer.commitment')?.status, 'ok');

    const events = (
      JSON.parse(bytes.toString('utf8')).evidence.tpm.eventLog as Array<{ content: Record<string, any> }>
    ).map((r) => r.content);
    const checkpoints = events.filter((e) => e.type === 'checkpoint');
    const meta = await readTranscriptMeta(transcript);
    const files = await readdir(join(transcript, 'checkpoints'));
    assert.equal(
      files.length,
      Math.ceil(meta.steps / K) + 1,
      `${meta.steps} steps, k = ${K}: a checkpoint before each segment and one at the end`,
    );
    assert.deepEqual(
      checkpoints.map((c) => c.index),
      files.map((_, i) => i),
    );
    for (const [i, file] of files.entries()) {
      const content = await readFile(join(transcript, 'checkpoints', file));
      assert.deepEqual(
        { sha256: checkpoints[i]!.sha256, bytes: checkpoints[i]!.bytes },
        { sha256: createHash('sha256').update(content).digest('hex'), bytes: content.length },
        file,
      );
    }
    // The trainer used the committed seed: its recorded order is the one s dictates.
    const seed = Buffer.from(events.find((e) => e.type === 'commitment')!.trainer.seed, 'hex');
    assert.deepEqual(
      await readBatches(transcript),
      batchSchedule(seed, splitHoldout(seed, meta.records, HOLDOUT).trainPool, BATCH, 1),
    );
    assert.ok(
      events.some((e) => e.type === 'output' && e.role === 'transcript'),
      'the transcript is measured at the end',
    );
    return { certificate: bytes, transcript };
  }

  /**
   * The real trainer audited as `aicert audit` would: replays and loss evaluations run the same
   * command as separate processes. `environment` is what the verifier's replays run with.
   */
  async function audit(
    run: { certificate: Buffer; transcript: string },
    code: string,
    command: string[],
    tolerance: Tolerance,
    environment: Record<string, string> = {},
  ) {
    const saved = Object.fromEntries(Object.keys(environment).map((k) => [k, process.env[k]]));
    Object.assign(process.env, environment);
    try {
      return await auditRun({
        certificate: run.certificate,
        certificateName: 'certificate',
        transcript: run.transcript,
        data,
        code,
        trust: NO_TRUST_ANCHORS,
        allowUntrustedAk: true,
        runTrainer: commandTrainer(command, 120_000),
        topQ: 2,
        random: 8,
        tolerance,
        members: DEFAULT_MEMBERS,
        unusedFraction: 1,
        auditSeed: createHash('sha256').update('certified-trainer audit').digest(),
      });
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  }

  /**
   * The audit of an honest run: every check but memorization passes, every audited segment
   * replays, and the memorization test finds the training (p ≤ α). Whether it may *pass* depends
   * on its power, which varies with the run's TPM-drawn seed (28–29 of 30 honest runs reach 0.95
   * against 100 % unused: README, "What the examples do pass"): the verdict must be `passed`
   * exactly when the reported power reaches the policy's, and `inconclusive` naming the power
   * otherwise. Asserting a pass unconditionally made this test fail on about one run in fifteen.
   */
  function assertHonestAudit(report: AuditReport, t: TestContext, label: string): void {
    assert.deepEqual(
      report.checks.filter((c) => c.status === 'failed' && c.id !== 'memorization'),
      [],
    );
    assert.ok(
      report.segments.length === 10 && report.segments.every((s) => s.replay?.accepted),
      'every audited segment replayed',
    );
    const m = report.memorization!;
    assert.ok(m.p <= 0.01 && m.segments === 10, `training on the claimed records shows: p = ${m.p}`);
    const whole = m.power.find((p) => p.unusedFraction === 1)!.power;
    const half = m.power.find((p) => p.unusedFraction === 0.5)!.power;
    assert.ok(half < 0.95, 'the default policy (50 % unused ruled out) would be inconclusive: the power says so');
    assert.equal(m.powered, whole >= m.requiredPower, 'powered means the power against 100 % unused reached 0.95');
    if (m.powered) {
      assert.equal(report.verdict, 'passed');
      assert.equal(m.outcome, 'passed');
    } else {
      assert.equal(report.verdict, 'inconclusive', `power ${whole} < 0.95 must not pass`);
      assert.match(report.checks.find((c) => c.id === 'memorization')!.reason, /^inconclusive: .*power/);
    }
    const aucs = report.segments.map((s) => s.memorization!.auc);
    t.diagnostic(
      `${label}: ${report.verdict}; memorization over ${m.segments} segments (${report.segments[0]!.memorization!.members} + ${report.segments[0]!.memorization!.heldOut} records each): AUC ${Math.min(...aucs).toFixed(3)}–${Math.max(...aucs).toFixed(3)}, weighted AUC ${m.auc.toFixed(3)} ± ${m.aucStandardError.toFixed(3)}, Z = ${m.z.toFixed(2)}, p = ${m.p.toExponential(1)}, power ${m.power.map((p) => `${p.power.toFixed(3)} against ${p.unusedFraction}`).join(', ')} unused; cost ${(100 * report.cost!.totalFraction).toFixed(0)} % of ${report.cost!.totalSteps} steps`,
    );
  }

  test('the TF.js trainer: certified, audited with exact tolerance on cpu, and calibrated when replayed on wasm', async (t) => {
    const code = join(repo, 'examples/fashion-mnist');
    const command = (output: string) => [
      process.execPath,
      join(repo, 'dist/examples/fashion-mnist/train.js'),
      '--data',
      data,
      '--out',
      output,
      ...TRAIN_OPTIONS,
    ];
    const run = await certifyAndCheck('tfjs', code, command);
    const exact = await audit(run, code, command(join(work, 'tfjs-audit')), { mode: 'exact' });
    assertHonestAudit(exact, t, 'TF.js cpu, exact');
    assert.ok(
      exact.segments.every((s) => s.replay?.digestEqual),
      'cpu replays are bit-exact',
    );
    const wasmExact = await audit(
      run,
      code,
      command(join(work, 'tfjs-audit')),
      { mode: 'exact' },
      { AICERT_TFJS_BACKEND: 'wasm' },
    );
    assert.equal(
      wasmExact.checks.find((c) => c.id === 'replay')?.status,
      'failed',
      'wasm replays differ in the last bits, so exact tolerance must refuse them',
    );
    const calibrated = await audit(
      run,
      code,
      command(join(work, 'tfjs-audit')),
      { mode: 'calibrated' },
      { AICERT_TFJS_BACKEND: 'wasm' },
    );
    assertHonestAudit(calibrated, t, 'TF.js replayed on wasm, calibrated');
  });

  test('the PyTorch trainer, with the Python SDK copied beside it as a user would: certified and audited with exact tolerance', async (t) => {
    const code = join(work, 'pytorch-code');
    await mkdir(code);
    await copyFile(join(repo, 'examples/pytorch-fashion-mnist/train.py'), join(code, 'train.py'));
    await copyFile(join(repo, 'python/aicert_trainer.py'), join(code, 'aicert_trainer.py'));
    const command = (output: string) => [
      '/usr/bin/python3',
      join(code, 'train.py'),
      '--data',
      data,
      '--out',
      output,
      ...TRAIN_OPTIONS,
    ];
    const run = await certifyAndCheck('pytorch', code, command);
    assertHonestAudit(
      await audit(run, code, command(join(work, 'pytorch-audit')), { mode: 'exact' }),
      t,
      'PyTorch, exact',
    );
  });
});
