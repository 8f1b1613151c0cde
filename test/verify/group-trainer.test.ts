import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkTrainers } from '../../src/verify/group-checks.js';
import type { GroupCommitment } from '../../src/protocol/group-commitment.js';
import type { RunLog } from '../../src/protocol/run-log.js';
import type { TrainerCommitment } from '../../src/protocol/trainer-commitment.js';

/**
 * group.trainer (docs/distributed.md, "Data-parallel training"): every node of a trainer group
 * run mixed the group's r into the same seed and measured the same checkpoints as rank 0.
 */
const hex = (byte: number) => Buffer.alloc(32, byte).toString('hex');
const R = hex(0x11);
const SEED = hex(0x22);
const CHECKPOINTS = [hex(0xc0), hex(0xc1), hex(0xc2)];

function trainer(over: Partial<TrainerCommitment> = {}): TrainerCommitment {
  return {
    protocol: 1,
    seed: SEED,
    r: R,
    rSource: 'group',
    checkpointEvery: 10,
    holdoutFraction: 0.1,
    dataset: { input: 'data', path: 'train.jsonl' },
    ...over,
  };
}

function log(t: TrainerCommitment | undefined, checkpoints = CHECKPOINTS): RunLog {
  return {
    commitment: { type: 'commitment', events: [hex(1)], ...(t && { trainer: t }) },
    checkpoints: checkpoints.map((sha256, index) => ({ type: 'checkpoint', index, sha256, bytes: 1 })),
  } as unknown as RunLog;
}

const group = (withTrainer = true) =>
  ({ type: 'aicert-group', nodes: 2, ...(withTrainer && { trainer: { r: R } }) }) as unknown as GroupCommitment;
const rank0 = () => log(trainer({ rSource: 'tpm' }));

function refused(logs: RunLog[], reason: RegExp, commitment = group()) {
  assert.throws(
    () => checkTrainers(commitment, logs),
    (err: any) => err.code === 'group.trainer' && reason.test(err.message),
  );
}

test('an honest trainer group run passes, with the checkpoint count; a run without the protocol is not one', () => {
  assert.equal(checkTrainers(group(), [rank0(), log(trainer())]), 3);
  assert.equal(checkTrainers(group(false), [log(undefined, []), log(undefined, [])]), undefined);
});

test('a node that did not run the protocol, or ran it when the group did not, is refused', () => {
  refused([rank0(), log(undefined)], /^rank 1 did not run the trainer protocol/);
  refused([log(undefined), log(trainer())], /^rank 0 did not run the trainer protocol/);
  refused(
    [log(undefined, []), log(trainer())],
    /^rank 1 ran the trainer protocol, but the group commitment fixes no r/,
    group(false),
  );
});

test('a node with another r, its own r, or another seed (other code, config or data) is refused', () => {
  refused([log(trainer({ rSource: 'tpm', r: hex(0x33) })), log(trainer())], /^rank 0 mixed r /);
  refused([rank0(), log(trainer({ rSource: 'tpm' }))], /^rank 1 mixed r .* \(tpm\)/);
  refused([rank0(), log(trainer({ r: hex(0x33) }))], /^rank 1 mixed r /);
  refused(
    [rank0(), log(trainer({ seed: hex(0x44) }))],
    /^rank 1 committed to the seed .* their code, config or data differ/,
  );
  refused([rank0(), log(trainer({ checkpointEvery: 5 }))], /^rank 1 committed to k = 5/);
});

test('replicas that diverged (another checkpoint digest) or stopped early are refused', () => {
  refused(
    [rank0(), log(trainer(), [CHECKPOINTS[0]!, hex(0xee), CHECKPOINTS[2]!])],
    /^rank 1 measured checkpoint 1 with digest e{64}.*the replicas diverged/,
  );
  refused([rank0(), log(trainer(), CHECKPOINTS.slice(0, 2))], /^rank 1 measured 2 checkpoints, rank 0 3/);
});
