import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkTrainer, type TrainerCheckReport } from '../../../src/audit/conformance/check-trainer.js';
import type { DeviationId } from '../../../src/audit/conformance/deviations.js';
import { commandTrainer } from '../../../src/audit/trainer-invocation.js';
import { UsageError } from '../../../src/errors.js';
import { seededBytes } from '../../util/property.js';

/**
 * `aicert trainer check` against small trainers written on the Python SDK alone
 * (fixtures/tiny_trainer.py, one process per request, on the built-in sample): the honest trainer
 * is conformant, and each broken variant (TINY_DEFECT) is reported under exactly the deviation ids
 * that name its fault, nothing else. Slow: nine checks of about ten trainer processes each.
 */
const repo = fileURLToPath(new URL('../../../..', import.meta.url));
const TINY = join(repo, 'test/audit/conformance/fixtures/tiny_trainer.py');
const CLI = join(repo, 'dist/src/cli/main.js');

const DEFECTS: Record<string, DeviationId[]> = {
  'nondeterministic-replay': ['replay.nondeterministic'],
  'no-optimizer': ['init.tensors', 'replay.tensors'],
  'int-step-counter': ['checkpoint.dtype'],
  'final-with-optimizer': ['final.not-last-checkpoint'],
  'unseeded-order': ['transcript.batches'],
  'init-crash': ['init.exit'],
  'any-protocol': ['protocol.version'],
  'short-losses': ['loss.output'],
};

let work: string;
let runs = 0;

async function check(defect?: string): Promise<TrainerCheckReport> {
  const output = join(work, `model-${runs++}`);
  const env = defect ? ['env', `TINY_DEFECT=${defect}`] : [];
  const command = [...env, '/usr/bin/python3', '-B', TINY, '--out', output];
  return checkTrainer({
    runTrainer: commandTrainer(command, 120_000),
    command,
    output,
    checkpointEvery: 5,
    holdoutFraction: 0.1,
    seed: seededBytes(32, `trainer check ${defect ?? 'honest'}`),
  });
}

describe('aicert trainer check: the Python-SDK trainer and its broken variants', () => {
  before(async () => {
    work = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'aicert-broken-trainers-'));
  });
  after(() => rm(work, { recursive: true, force: true }));

  test('the honest trainer is conformant: every step ok, exit status 0', async () => {
    const r = await check();
    assert.deepEqual(r.deviations, []);
    assert.equal(r.exitStatus, 0);
    assert.deepEqual(
      r.steps.map((s) => [s.id, s.status]),
      ['train', 'checkpoints', 'meta', 'batches', 'final', 'init', 'replay', 'loss', 'protocol'].map((id) => [
        id,
        'ok',
      ]),
    );
    assert.deepEqual([r.dataset.builtIn, r.dataset.records], [true, 240]);
  });

  for (const [defect, expected] of Object.entries(DEFECTS)) {
    test(`${defect}: reported as ${expected.join(' and ')}, and nothing else`, async () => {
      const r = await check(defect);
      assert.equal(r.exitStatus, 1);
      assert.deepEqual(
        [...new Set(r.deviations.map((d) => d.id))].sort(),
        [...expected].sort(),
        JSON.stringify(r.deviations),
      );
    });
  }

  test('a non-empty --output or a command that cannot start is a usage error, not a deviation', async () => {
    const full = join(work, 'full');
    await mkdir(full);
    await writeFile(join(full, 'old.safetensors'), 'x');
    const base = { command: ['x'], checkpointEvery: 5, holdoutFraction: 0.1 };
    await assert.rejects(
      checkTrainer({ ...base, runTrainer: commandTrainer(['x'], 1000), output: full }),
      (e: unknown) => e instanceof UsageError && e.code === 'usage.output-not-empty',
    );
    await assert.rejects(
      checkTrainer({
        ...base,
        runTrainer: commandTrainer([join(work, 'no-such-program')], 1000),
        output: join(work, 'none'),
      }),
      (e: unknown) => e instanceof UsageError && e.code === 'usage.command',
    );
  });

  test('the CLI: exit 1 with the deviation named; exit 2 without --output; --help has an example', () => {
    const output = join(work, 'cli-model');
    const run = spawnSync(
      process.execPath,
      [
        CLI,
        'trainer',
        'check',
        '--output',
        output,
        '--',
        'env',
        'TINY_DEFECT=any-protocol',
        '/usr/bin/python3',
        '-B',
        TINY,
        '--out',
        output,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stdout, /1 DEVIATION:\n {2}protocol\.version: init mode answered with AICERT_TRAINER_PROTOCOL=2/);
    const usage = spawnSync(process.execPath, [CLI, 'trainer', 'check', '--', 'true'], { encoding: 'utf8' });
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /--output/);
    const help = spawnSync(process.execPath, [CLI, 'trainer', 'check', '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /Example:\n {2}aicert trainer check --output/);
  });
});
