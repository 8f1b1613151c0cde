import { auditRun } from '../../src/audit/audit-run.js';
import { commandTrainer } from '../../src/audit/trainer-invocation.js';
import type { AuditReport, Tolerance } from '../../src/audit/audit-report.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
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
 * each on a 300-record slice), the certificate verified including the trainer commitment, and
 * every checkpoint event matching the file the trainer left in the transcript.
 */
const repo = fileURLToPath(new URL('../../..', import.meta.url));
const EXAMPLE_DATA = join(repo, 'examples/fashion-mnist/data');
const K = 5;
const TRAIN_OPTIONS = ['--epochs', '2', '--batch-size', '16'];

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
    // The dataset input: a directory whose train.jsonl (300 records) is the trainer's record file.
    data = join(work, 'data');
    await mkdir(data);
    const lines = (await readFile(join(EXAMPLE_DATA, 'train.jsonl'), 'utf8')).split('\n').slice(0, 300);
    await writeFile(join(data, 'train.jsonl'), `${lines.join('\n')}\n`);
    await copyFile(join(EXAMPLE_DATA, 'test.jsonl'), join(data, 'test.jsonl'));
  });
  after(async () => {
    await sim?.stop();
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function certifyAndCheck(name: string, code: string, command: (output: string) => string[]): Promise<{ certificate: Buffer; transcript: string }> {
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
      trainer: { transcript, checkpointEvery: K, holdoutFraction: 0.1, dataset: join(data, 'train.jsonl') },
      log: () => undefined,
    };
    const result = await certifiedRun(options);
    assert.equal(result.outcome.exitCode, 0, 'the trainer (its stderr is above) failed');
    const bytes = await readFile(result.certificatePath!);
    const report = await verifyCertificate(bytes, name, { allowUntrustedAk: true, trust: NO_TRUST_ANCHORS, model: output, data: [data], code });
    assert.equal(report.verdict, 'verified', JSON.stringify(report.checks.filter((c) => c.status === 'failed')));
    assert.equal(report.checks.find((c) => c.id === 'trainer.commitment')?.status, 'ok');

    const events = (JSON.parse(bytes.toString('utf8')).evidence.tpm.eventLog as Array<{ content: Record<string, any> }>).map((r) => r.content);
    const checkpoints = events.filter((e) => e.type === 'checkpoint');
    const files = await readdir(join(transcript, 'checkpoints'));
    assert.equal(files.length, 8, '32 steps, k = 5: checkpoints 0–7');
    assert.deepEqual(checkpoints.map((c) => c.index), files.map((_, i) => i));
    for (const [i, file] of files.entries()) {
      const content = await readFile(join(transcript, 'checkpoints', file));
      assert.deepEqual({ sha256: checkpoints[i]!.sha256, bytes: checkpoints[i]!.bytes }, { sha256: createHash('sha256').update(content).digest('hex'), bytes: content.length }, file);
    }
    // The trainer used the committed seed: its recorded order is the one s dictates.
    const seed = Buffer.from(events.find((e) => e.type === 'commitment')!.trainer.seed, 'hex');
    const meta = await readTranscriptMeta(transcript);
    assert.deepEqual(await readBatches(transcript), batchSchedule(seed, splitHoldout(seed, meta.records, 0.1).trainPool, 16, 2));
    assert.ok(events.some((e) => e.type === 'output' && e.role === 'transcript'), 'the transcript is measured at the end');
    return { certificate: bytes, transcript };
  }

  /**
   * The real trainer audited as `aicert audit` would: replays and loss evaluations run the same
   * command as separate processes. `environment` is what the verifier's replays run with.
   */
  async function audit(run: { certificate: Buffer; transcript: string }, code: string, command: string[], tolerance: Tolerance, environment: Record<string, string> = {}) {
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
        random: 3,
        tolerance,
        members: 64,
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
   * Every check up to and including the replays passes. The memorization test is not asserted
   * here: on these small runs (80 records a segment, 30 held out) its signal is too weak to pass
   * its Bonferroni threshold even for honest runs; test/audit shows its power at a usable size.
   */
  function assertReplaysPass(report: AuditReport): void {
    const failed = report.checks.filter((c) => c.status === 'failed' && c.id !== 'memorization');
    assert.deepEqual(failed, []);
    for (const id of ['init', 'replay']) assert.equal(report.checks.find((c) => c.id === id)?.status, 'ok', id);
    assert.ok(report.segments.length >= 5 && report.segments.every((s) => s.replay?.accepted), 'every audited segment replayed');
  }

  test('the TF.js trainer: certified, audited with exact tolerance on cpu, and calibrated when replayed on wasm', async () => {
    const code = join(repo, 'examples/fashion-mnist');
    const command = (output: string) => [process.execPath, join(repo, 'dist/examples/fashion-mnist/train.js'), '--data', data, '--out', output, ...TRAIN_OPTIONS];
    const run = await certifyAndCheck('tfjs', code, command);
    const exact = await audit(run, code, command(join(work, 'tfjs-audit')), { mode: 'exact' });
    assertReplaysPass(exact);
    assert.ok(exact.segments.every((s) => s.replay?.digestEqual), 'cpu replays are bit-exact');
    const wasmExact = await audit(run, code, command(join(work, 'tfjs-audit')), { mode: 'exact' }, { AICERT_TFJS_BACKEND: 'wasm' });
    assert.equal(wasmExact.checks.find((c) => c.id === 'replay')?.status, 'failed', 'wasm replays differ in the last bits, so exact tolerance must refuse them');
    const calibrated = await audit(run, code, command(join(work, 'tfjs-audit')), { mode: 'calibrated' }, { AICERT_TFJS_BACKEND: 'wasm' });
    assertReplaysPass(calibrated);
  });

  test('the PyTorch trainer, with the Python SDK copied beside it as a user would: certified and audited with exact tolerance', async () => {
    const code = join(work, 'pytorch-code');
    await mkdir(code);
    await copyFile(join(repo, 'examples/pytorch-fashion-mnist/train.py'), join(code, 'train.py'));
    await copyFile(join(repo, 'python/aicert_trainer.py'), join(code, 'aicert_trainer.py'));
    const command = (output: string) => ['/usr/bin/python3', join(code, 'train.py'), '--data', data, '--out', output, ...TRAIN_OPTIONS];
    const run = await certifyAndCheck('pytorch', code, command);
    assertReplaysPass(await audit(run, code, command(join(work, 'pytorch-audit')), { mode: 'exact' }));
  });
});
