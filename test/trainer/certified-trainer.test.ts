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

  async function certifyAndCheck(name: string, code: string, command: (output: string) => string[]): Promise<void> {
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
  }

  test('the TF.js trainer', async () => {
    await certifyAndCheck('tfjs', join(repo, 'examples/fashion-mnist'), (output) => [process.execPath, join(repo, 'dist/examples/fashion-mnist/train.js'), '--data', data, '--out', output, ...TRAIN_OPTIONS]);
  });

  test('the PyTorch trainer, with the Python SDK copied beside it as a user would', async () => {
    const code = join(work, 'pytorch-code');
    await mkdir(code);
    await copyFile(join(repo, 'examples/pytorch-fashion-mnist/train.py'), join(code, 'train.py'));
    await copyFile(join(repo, 'python/aicert_trainer.py'), join(code, 'aicert_trainer.py'));
    await certifyAndCheck('pytorch', code, (output) => ['/usr/bin/python3', join(code, 'train.py'), '--data', data, '--out', output, ...TRAIN_OPTIONS]);
  });
});
