import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkTrainer } from '../../../src/audit/conformance/check-trainer.js';
import { commandTrainer } from '../../../src/audit/trainer-invocation.js';
import { seededBytes } from '../../util/property.js';

/**
 * `aicert trainer check` passes the two example trainers, exactly as their READMEs run them, on
 * the built-in sample (240 records, one epoch of batch 32: 6 steps, 3 checkpoints at k = 5):
 * TF.js (examples/fashion-mnist) and PyTorch (examples/pytorch-fashion-mnist, Debian's
 * python3-torch on /usr/bin/python3), and its data-parallel twin train_ddp.py started alone (its
 * 2-node run is test/examples/pytorch-ddp.swtpm.test.ts). The Python-SDK trainer's pass is in broken-trainers.
 */
const repo = fileURLToPath(new URL('../../../..', import.meta.url));
const DATA = join(repo, 'examples/fashion-mnist/data');

const TRAINERS: Record<string, (out: string) => string[]> = {
  'TF.js': (out) => [
    process.execPath,
    join(repo, 'dist/examples/fashion-mnist/train.js'),
    '--data',
    DATA,
    '--out',
    out,
    '--epochs',
    '1',
  ],
  PyTorch: (out) => [
    '/usr/bin/python3',
    '-B',
    join(repo, 'examples/pytorch-fashion-mnist/train.py'),
    '--data',
    DATA,
    '--out',
    out,
    '--epochs',
    '1',
  ],
  // The data-parallel trainer started alone (no torchrun): one rank, the same protocol modes.
  'PyTorch DDP, one process': (out) => [
    '/usr/bin/python3',
    '-B',
    join(repo, 'examples/pytorch-fashion-mnist/train_ddp.py'),
    '--data',
    DATA,
    '--out',
    out,
  ],
};

describe('aicert trainer check: the example trainers are conformant', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'aicert-example-check-'));
  });
  after(() => rm(work, { recursive: true, force: true }));

  for (const [name, commandFor] of Object.entries(TRAINERS)) {
    test(`${name}`, async (t) => {
      const output = join(work, name);
      const command = commandFor(output);
      const r = await checkTrainer({
        runTrainer: commandTrainer(command, 600_000),
        command,
        output,
        checkpointEvery: 5,
        holdoutFraction: 0.1,
        seed: seededBytes(32, `trainer check ${name}`),
      });
      assert.deepEqual(r.deviations, [], JSON.stringify(r.steps));
      assert.ok(r.steps.every((s) => s.status === 'ok'));
      t.diagnostic(`${name}: ${r.steps.map((s) => `${s.id}: ${s.detail}`).join('; ')}`);
    });
  }
});
