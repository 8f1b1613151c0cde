import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { certifiedRun } from '../../src/run/certified-run.js';
import { auditRun } from '../../src/audit/audit-run.js';
import { parseAuditReport, type AuditReport } from '../../src/audit/audit-report.js';
import { commandTrainer } from '../../src/audit/trainer-invocation.js';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import { NO_TRUST_ANCHORS } from '../../src/evidence/ak-trust.js';
import { readSafetensorsHeader } from '../../src/measure/formats/safetensors.js';
import { InputError } from '../../src/errors.js';
import { TRIVIAL_TRAINER } from '../fixtures/trivial-trainer.js';
import { auditOptions, certifyToyRun, scratchDirectory, TOY_TRAINER, writeDataset } from './fixtures/toy-runs.js';

/**
 * Checkpoint dtypes end to end on a swtpm: the toy trainer storing its checkpoints and final model
 * as F64, F16 and BF16 (`--dtype`) is certified, verified (trainer.final included) and audited
 * with the trainer run as a command, one process per request; a trainer whose checkpoints hold
 * I64 or F8_E4M3 tensors is refused by `aicert run` (run.checkpoint-dtype) and no certificate is
 * written.
 */
const STEPS = 200;

let work: string;
let sim: Simulator;
let dataset: string;

const notOk = (r: AuditReport) => JSON.stringify(r.checks.filter((c) => c.status !== 'ok'));

describe('checkpoint dtypes: F64, F16 and BF16 certified and audited; others refused at run time', () => {
  before(async () => {
    work = await scratchDirectory('aicert-dtypes-');
    process.env.AICERT_HOME = join(work, 'home');
    sim = await startSimulator();
    dataset = await writeDataset(work);
  });
  after(async () => {
    await sim?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  for (const dtype of ['F64', 'F16', 'BF16'] as const) {
    test(`a ${dtype} trainer: certified, verified and audited (exact, and ${dtype === 'F64' ? 'calibrated' : 'relative 1e-3'})`, async (t) => {
      const run = await certifyToyRun(work, sim.address, dataset, dtype, STEPS, undefined, undefined, undefined, [
        '--dtype',
        dtype,
      ]);
      for (const file of await readdir(join(run.transcript, 'checkpoints'))) {
        const dtypes = new Set(
          readSafetensorsHeader(join(run.transcript, 'checkpoints', file)).tensors.map((x) => x.dtype),
        );
        assert.deepEqual([...dtypes], [dtype], `${file} holds ${dtype} tensors only`);
      }
      const { report } = await verifyCertificate(run.certificate, run.certificatePath, {
        trust: NO_TRUST_ANCHORS,
        allowUntrustedAk: true,
      });
      assert.equal(report.verdict, 'verified', JSON.stringify(report.checks.filter((c) => c.status !== 'ok')));
      assert.equal(report.checks.find((c) => c.id === 'trainer.final')?.status, 'ok');

      const trainer = commandTrainer([process.execPath, TOY_TRAINER, '--dtype', dtype], 60_000);
      const exact = parseAuditReport(await auditRun(auditOptions(run, trainer, { random: 4, members: 64 })));
      assert.equal(exact.verdict, 'passed', notOk(exact));
      assert.ok(
        exact.segments.every((s) => s.replay?.digestEqual),
        'every replay reproduces its checkpoint bit for bit',
      );
      // A tolerance that compares values, not digests: the distances are computed from the decoded values.
      const tolerance =
        dtype === 'F64' ? ({ mode: 'calibrated' } as const) : ({ mode: 'relative', delta: 1e-3 } as const);
      const judged = parseAuditReport(
        await auditRun(auditOptions(run, trainer, { random: 2, members: 64, tolerance })),
      );
      assert.equal(judged.verdict, 'passed', notOk(judged));
      assert.ok(judged.segments.every((s) => s.updateNorm > 0 && s.replay?.distance === 0));
      t.diagnostic(
        `${dtype}: memorization Z = ${exact.memorization?.z.toFixed(2)} over ${exact.memorization?.segments} segments; ${judged.checks.find((c) => c.id === 'replay')?.reason}`,
      );
    });
  }

  for (const dtype of ['I64', 'F8_E4M3']) {
    test(`a trainer whose checkpoints hold ${dtype} tensors is refused at run time, before any certificate is written`, async () => {
      const dir = join(work, `refused-${dtype}`);
      await mkdir(join(dir, 'code'), { recursive: true });
      await writeFile(join(dir, 'code', 'trainer.js'), TRIVIAL_TRAINER);
      const output = join(dir, 'model');
      const certificatePath = `${output}.aicert.json`;
      await assert.rejects(
        certifiedRun({
          code: join(dir, 'code'),
          data: [dataset],
          output,
          certificatePath,
          tpm: sim.address,
          pcr: 23,
          command: [process.execPath, '-e', TRIVIAL_TRAINER, output, dtype],
          certifyFailure: false,
          trainer: { transcript: join(dir, 'transcript'), checkpointEvery: 1, holdoutFraction: 0.1, dataset },
          log: () => undefined,
        }),
        (err: unknown) =>
          err instanceof InputError &&
          err.code === 'run.checkpoint-dtype' &&
          new RegExp(`checkpoint 0 cannot be audited: tensor "optimizer/w" is ${dtype}`).test(err.message),
      );
      assert.equal(existsSync(certificatePath), false, 'no certificate');
    });
  }
});
