import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkBatches, checkMeta } from '../../src/audit/committed-schedule.js';
import { batchSchedule, splitHoldout, TranscriptWriter, type TranscriptMeta } from '../../src/trainer/index.js';
import type { TrainerCommitment } from '../../src/protocol/trainer-commitment.js';

const seedHex = 'c0'.repeat(32);
const seed = Buffer.from(seedHex, 'hex');
const commitment: TrainerCommitment = {
  protocol: 1,
  seed: seedHex,
  r: '00'.repeat(32),
  rSource: 'tpm',
  checkpointEvery: 5,
  holdoutFraction: 0.2,
  dataset: { input: 'd.jsonl', path: '.' },
};
const meta: TranscriptMeta = {
  protocol: 1,
  framework: 'test',
  batchSize: 4,
  k: 5,
  steps: 23,
  records: 50,
  hyperparameters: {},
};
const { trainPool, heldOut } = splitHoldout(seed, meta.records, commitment.holdoutFraction);
const schedule = batchSchedule(seed, trainPool, 4, 3).slice(0, 23);

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'aicert-schedule-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function transcript(name: string, batches: number[][], m: object = meta): Promise<string> {
  const dir = join(work, name);
  const writer = new TranscriptWriter(dir);
  await writer.writeMeta(m);
  for (const [step, indices] of batches.entries()) await writer.appendBatch(step, indices);
  return dir;
}

test('the derived schedule passes and comes back with the held-out records', async () => {
  const dir = await transcript('good', schedule);
  const m = await checkMeta(dir, commitment, 50, 6);
  const order = await checkBatches(dir, commitment, m);
  assert.deepEqual(order.batches, schedule);
  assert.deepEqual(order.heldOut, heldOut);
  assert.equal(schedule.length, 23, '23 steps span three epochs of 10 batches');
});

test('meta.json must agree with the commitment, the certified record count and the checkpoints measured', async () => {
  const dir = await transcript('meta', schedule);
  await assert.rejects(
    checkMeta(dir, { ...commitment, checkpointEvery: 10 }, 50, 6),
    /k = 5, but the run committed to a checkpoint every 10 steps/,
  );
  await assert.rejects(checkMeta(dir, commitment, 51, 6), /has 51/);
  await assert.rejects(checkMeta(dir, commitment, 50, 7), /make 6 checkpoints at k = 5, but the run measured 7/);
  await writeFile(join(dir, 'meta.json'), '{"protocol":1}');
  await assert.rejects(checkMeta(dir, commitment, 50, 6), { code: 'trainer.meta' });
});

test('a step on a held-out record fails, and says which', async () => {
  const cheating = schedule.map((b) => [...b]);
  cheating[7]![2] = heldOut[0]!;
  const dir = await transcript('held-out', cheating);
  await assert.rejects(
    checkBatches(dir, commitment, meta),
    new RegExp(`step 7 trained on record ${heldOut[0]}, which the commitment holds out`),
  );
});

test('any other order, or a different number of steps, fails', async () => {
  const swapped = schedule.map((b) => [...b]);
  [swapped[3], swapped[4]] = [swapped[4]!, swapped[3]!];
  await assert.rejects(
    checkBatches(await transcript('swapped', swapped), commitment, meta),
    /step 3 trained on \[.*\], but the order derived from s gives/,
  );
  await assert.rejects(
    checkBatches(await transcript('short', schedule.slice(0, 22)), commitment, meta),
    /logs 22 steps, meta.json says 23/,
  );
  const other = batchSchedule(Buffer.alloc(32, 1), trainPool, 4, 3).slice(0, 23);
  await assert.rejects(checkBatches(await transcript('other-seed', other), commitment, meta), /order derived from s/);
});
