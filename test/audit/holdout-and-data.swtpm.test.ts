import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { parseAuditReport } from '../../src/audit/audit-report.js';
import { auditSeed, copyToyCode, scratchDirectory, TOY_TRAINER, writeDataset } from './fixtures/toy-runs.js';

/**
 * `aicert run --holdout 0` and `aicert audit --data`, as commands on a swtpm with the toy trainer
 * (100 steps): a run that holds nothing out is certified, with a warning, and its audit fails at
 * memorization saying why; a run that committed a dataset *directory* is audited with either
 * that directory or the record file inside it.
 */
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const STEPS = '100';

describe('aicert run --holdout 0, and aicert audit --data DIR or FILE', () => {
  let work: string;
  let sim: Simulator;
  let data: string;
  let code: string;
  const env = () => ({ ...process.env, AICERT_HOME: join(work, 'home') });
  const aicert = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: env() });
  const run = (name: string, ...options: string[]) => {
    const output = join(work, name, 'model');
    const r = aicert(
      'run',
      '--trainer',
      '--tpm',
      sim.address,
      '--code',
      code,
      '--data',
      data,
      '--trainer-data',
      join(data, 'train.jsonl'),
      '--output',
      output,
      '--challenge',
      'ab'.repeat(32),
      ...options,
      '--',
      process.execPath,
      TOY_TRAINER,
      '--out',
      output,
      '--steps',
      STEPS,
    );
    return { ...r, certificate: `${output}.aicert.json`, transcript: `${output}.transcript` };
  };
  const audit = (certificate: string, transcript: string, dataArg: string) =>
    aicert(
      'audit',
      certificate,
      '--transcript',
      transcript,
      '--data',
      dataArg,
      '--allow-untrusted-ak',
      '--json',
      '--random',
      '3',
      '--members',
      '40',
      '--seed',
      auditSeed('holdout-and-data').toString('hex'),
      '--',
      process.execPath,
      TOY_TRAINER,
    );

  before(async () => {
    work = await scratchDirectory('aicert-holdout-data-');
    sim = await startSimulator();
    code = await copyToyCode(work);
    // The dataset input is a directory: the record file and a file the trainer does not read.
    data = join(work, 'dataset');
    await mkdir(data);
    await copyFile(await writeDataset(work), join(data, 'train.jsonl'));
    await writeFile(join(data, 'README'), 'toy records\n');
  });
  after(async () => {
    await sim?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('--holdout 0 is accepted and warned about; its audit fails at memorization, saying why (exit 1)', () => {
    const r = run('no-holdout', '--holdout', '0');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /WARNING: --holdout 0: no record is held out, so the audit's memorization test cannot run/);
    const a = audit(r.certificate, r.transcript, data);
    assert.equal(a.status, 1, a.stderr);
    const report = parseAuditReport(JSON.parse(a.stdout));
    assert.equal(report.checks.find((c) => c.status === 'failed')?.id, 'memorization');
    assert.match(
      report.checks.at(-1)!.reason,
      /held out no records \(it was certified with --holdout 0\), so the memorization test cannot run/,
    );
    assert.equal(
      report.checks.find((c) => c.id === 'replay')?.status,
      'ok',
      'everything before memorization still ran',
    );
  });

  test('--holdout outside [0, 1) is a usage error (exit 2)', () => {
    for (const bad of ['-0.1', '1', 'half']) {
      const r = run(`bad-${bad}`, '--holdout', bad);
      assert.equal(r.status, 2, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, /--holdout must be auto or a fraction from 0 to below 1, e.g. 0\.1, got /);
      assert.ok(r.stderr.includes(`got ${bad}`), `${bad}: the message names the bad value: ${r.stderr}`);
    }
  });

  test('--data takes the committed directory or the record file inside it; another file fails at data', async () => {
    const r = run('holdout', '--holdout', '0.2');
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /WARNING/);
    for (const dataArg of [data, join(data, 'train.jsonl')]) {
      const a = audit(r.certificate, r.transcript, dataArg);
      const report = parseAuditReport(JSON.parse(a.stdout));
      assert.equal(
        report.checks.find((c) => c.id === 'data')?.status,
        'ok',
        `${dataArg}: ${JSON.stringify(report.checks.at(-1))}`,
      );
      assert.equal(report.verdict, 'passed', JSON.stringify(report.checks.filter((c) => c.status !== 'ok')));
    }
    const other = join(work, 'train.jsonl');
    await writeFile(other, (await readFile(join(data, 'train.jsonl'), 'utf8')).replace('"y":', '"y": '));
    const wrong = audit(r.certificate, r.transcript, other);
    assert.equal(wrong.status, 1);
    const report = parseAuditReport(JSON.parse(wrong.stdout));
    assert.equal(report.checks.at(-1)!.id, 'data');
    assert.match(
      report.checks.at(-1)!.reason,
      /is not train\.jsonl of the trainer's certified dataset "dataset"; pass the record file the run trained on, or the directory "dataset" it committed/,
    );
  });
});
