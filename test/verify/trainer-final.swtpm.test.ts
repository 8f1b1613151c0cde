import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import { NO_TRUST_ANCHORS } from '../../src/evidence/ak-trust.js';
import { auditRun } from '../../src/audit/audit-run.js';
import { VSA_PREDICATE_TYPE } from '../../src/cert/endorsement.js';
import { tensorSetDigest } from '../../src/protocol/model-tensors.js';
import { readRunLog } from '../../src/protocol/run-log.js';
import type { RunEvent } from '../../src/protocol/run-events.js';
import { cachedToyTrainer } from '../audit/fixtures/in-process-trainer.js';
import {
  auditOptions,
  certifyToyRun,
  scratchDirectory,
  writeDataset,
  type ToyRun,
} from '../audit/fixtures/toy-runs.js';

/**
 * `trainer.final` end to end on a swtpm: the model a protocol trainer ships must be exactly the
 * weights of its last checkpoint, judged from the certificate alone. The toy trainer (60 steps,
 * 7 checkpoints) is certified honestly, with its shipped model negated, and with its model
 * written as JSON; `aicert verify` and `aicert endorse` are run as commands.
 */
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const STEPS = 60;

describe("trainer.final: the shipped model is the last checkpoint's weights", () => {
  let work: string;
  let sim: Simulator;
  const runs = new Map<string, ToyRun & { log: string[] }>();

  before(async () => {
    work = await scratchDirectory('aicert-trainer-final-');
    process.env.AICERT_HOME = join(work, 'home');
    sim = await startSimulator();
    const dataset = await writeDataset(work);
    for (const spoof of [undefined, 'final-negated', 'final-not-safetensors'] as const) {
      const log: string[] = [];
      const name = spoof ?? 'honest';
      runs.set(name, {
        ...(await certifyToyRun(work, sim.address, dataset, name, STEPS, spoof, undefined, (line) => log.push(line))),
        log,
      });
    }
  });
  after(async () => {
    await sim?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const verify = async (name: string) =>
    (await verifyCertificate(runs.get(name)!.certificate, name, { trust: NO_TRUST_ANCHORS, allowUntrustedAk: true }))
      .report;
  const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

  test('an honest run verifies, trainer.final ok: the output tensors make up the digest recorded for the last checkpoint', async () => {
    const report = await verify('honest');
    assert.equal(report.verdict, 'verified', JSON.stringify(report.checks.filter((c) => c.status !== 'ok')));
    const final = report.checks.find((c) => c.id === 'trainer.final');
    assert.equal(final?.status, 'ok');
    assert.match(final!.reason, /weights of the last checkpoint \(6\)/);
    const ids = report.checks.map((c) => c.id);
    assert.ok(ids.indexOf('run.exit') < ids.indexOf('trainer.final'), 'trainer.final runs after run.exit');

    const log = readRunLog(
      (
        JSON.parse(runs.get('honest')!.certificate.toString('utf8')) as {
          evidence: { tpm: { eventLog: Array<{ content: RunEvent }> } };
        }
      ).evidence.tpm.eventLog.map((r) => r.content),
    );
    const model = log.outputs.find((o) => o.role === 'model')!;
    assert.deepEqual(model.tensors!.map((t) => t.name).sort(), ['b1', 'b2', 'w1', 'w2']);
    assert.ok(
      log.checkpoints.every((c) => c.weights?.tensors === 4),
      'every checkpoint records the digest of its 4 weights (not its optimizer state)',
    );
    assert.equal(tensorSetDigest(model.tensors!), log.checkpoints.at(-1)!.weights!.sha256);
    assert.deepEqual(
      runs.get('honest')!.log.filter((l) => l.startsWith('WARNING')),
      [],
    );

    const audit = await auditRun(
      auditOptions(runs.get('honest')!, cachedToyTrainer(join(work, 'cache')).run, { random: 2, members: 40 }),
    );
    assert.equal(
      audit.checks.find((c) => c.id === 'transcript.integrity')?.status,
      'ok',
      'the last checkpoint file has the weights digest the model was held against',
    );
  });

  test('a run that ships the last checkpoint negated fails verify at trainer.final (exit 1), and was warned about', async () => {
    const report = await verify('final-negated');
    assert.equal(report.verdict, 'not verified');
    assert.equal(report.exitStatus, 1);
    const failed = report.checks.filter((c) => c.status === 'failed');
    assert.deepEqual(
      failed.map((c) => c.id),
      ['trainer.final'],
    );
    assert.match(
      failed[0]!.reason,
      /the output model model \(4 tensors, digest [0-9a-f]{16}…\) is not the weights of the last checkpoint 6 \(4 tensors/,
    );
    assert.ok(
      runs
        .get('final-negated')!
        .log.some((l) =>
          /WARNING: .*is not the weights of the last checkpoint 6.*will refuse this certificate at trainer\.final/.test(
            l,
          ),
        ),
    );

    const r = cli('verify', runs.get('final-negated')!.certificatePath, '--allow-untrusted-ak');
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /FAILED\s+trainer\.final/);
  });

  test('a run whose model is not safetensors fails closed at trainer.final, with the reason at run time', async () => {
    const report = await verify('final-not-safetensors');
    const failed = report.checks.find((c) => c.status === 'failed');
    assert.equal(failed?.id, 'trainer.final');
    assert.match(
      failed!.reason,
      /no per-tensor digests of the output model model: aicert records them only when every model file in the output is safetensors/,
    );
    assert.ok(
      runs.get('final-not-safetensors')!.log.some((l) => /WARNING: the output's model files cannot be read/.test(l)),
      runs.get('final-not-safetensors')!.log.join('\n'),
    );
  });

  test('aicert endorse refuses a certificate that fails trainer.final, even with an audit report claiming a pass', async () => {
    const key = join(work, 'auditor.key.pem');
    await writeFile(
      key,
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
    );
    // The report is the auditor's own file: edited to "passed", it is what endorse must not take on trust.
    const passedReport = async (name: string) => {
      const run = runs.get(name)!;
      const report = await auditRun(
        auditOptions(run, cachedToyTrainer(join(work, `cache-${name}`)).run, { random: 1, members: 10 }),
      );
      const path = join(work, `${name}.audit.json`);
      await writeFile(path, JSON.stringify({ ...report, verdict: 'passed', exitStatus: 0 }));
      return path;
    };
    const negated = runs.get('final-negated')!;
    const refused = cli(
      'endorse',
      negated.certificatePath,
      '--audit',
      await passedReport('final-negated'),
      '--key',
      key,
      '--out',
      join(work, 'negated.vsa.json'),
    );
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(
      refused.stderr,
      /the certificate does not verify \(trainer\.final: the output model model .* is not the weights of the last checkpoint 6.*\); a certificate that does not verify is not endorsed \[endorse\.unverifiable\]/,
    );
    assert.equal(existsSync(join(work, 'negated.vsa.json')), false, 'no endorsement written');

    // The same forged report about the honest run is endorsed: the refusal above is verification's.
    const honest = runs.get('honest')!;
    const endorsed = cli(
      'endorse',
      honest.certificatePath,
      '--audit',
      await passedReport('honest'),
      '--key',
      key,
      '--out',
      join(work, 'honest.vsa.json'),
    );
    assert.equal(endorsed.status, 0, endorsed.stderr);
    const envelope = JSON.parse(await readFile(join(work, 'honest.vsa.json'), 'utf8')) as { payload: string };
    assert.equal(
      JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')).predicateType,
      VSA_PREDICATE_TYPE,
    );
  });
});
