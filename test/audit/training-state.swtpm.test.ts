import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { auditRun, type AuditOptions } from '../../src/audit/audit-run.js';
import { parseAuditReport, type AuditReport } from '../../src/audit/audit-report.js';
import { commandTrainer, type RunTrainer } from '../../src/audit/trainer-invocation.js';
import type { TrainerVariables } from '../../src/protocol/trainer-environment.js';
import { cachedToyTrainer, type CachedTrainer } from './fixtures/in-process-trainer.js';
import {
  auditOptions,
  auditSeed,
  CHECKPOINT_EVERY,
  certifyToyRun,
  scratchDirectory,
  TOY_TRAINER,
  writeDataset,
  type ToyRun,
} from './fixtures/toy-runs.js';
import type { Spoof } from './fixtures/toy-trainer.js';

/**
 * What the audit's trainer requests may see, and the whole training state (weights and
 * optimizer state) under audit, end to end on a swtpm with the toy trainer (600 steps, k = 10:
 * 60 segments):
 * - each request gets a directory of its own with only what the protocol gives it; a replay
 *   mode that copies checkpoint i+1 finds nothing to copy;
 * - a run that keeps the weights of checkpoint 58 but injects a momentum buffer that steers the
 *   next segment towards undisclosed data is caught by every default audit, and with a relative
 *   or calibrated tolerance too, over AICERT_AUDIT_TRIALS (default 20) audit seeds.
 */
const TRIALS = Number(process.env.AICERT_AUDIT_TRIALS ?? 20);
const STEPS = 600;

let work: string;
let sim: Simulator;
const runs = new Map<string, ToyRun>();
const trainers = new Map<string, CachedTrainer>();

function trainerFor(run: string, env: Record<string, string> = {}): CachedTrainer {
  const key = `${run} ${JSON.stringify(env)}`;
  if (!trainers.has(key)) trainers.set(key, cachedToyTrainer(join(work, 'cache', String(trainers.size)), [], env));
  return trainers.get(key)!;
}

async function audit(
  run: string,
  overrides: Partial<AuditOptions> = {},
  env: Record<string, string> = {},
): Promise<AuditReport> {
  return parseAuditReport(await auditRun(auditOptions(runs.get(run)!, trainerFor(run, env).run, overrides)));
}

const failedCheck = (r: AuditReport) => r.checks.find((c) => c.status === 'failed')?.id;
const notOk = (r: AuditReport) => JSON.stringify(r.checks.filter((c) => c.status !== 'ok'));

/** Every file under `dir`, relative, sorted. */
async function listing(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() || e.isSymbolicLink())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe('audit: isolated requests and the whole training state', () => {
  before(async () => {
    work = await scratchDirectory('aicert-training-state-');
    process.env.AICERT_HOME = join(work, 'home');
    sim = await startSimulator();
    const dataset = await writeDataset(work);
    const plan: Array<[string, Spoof?]> = [
      ['honest'],
      ['interpolate', 'interpolate'],
      ['momentum-injection', 'momentum-injection'],
    ];
    for (const [name, spoof] of plan)
      runs.set(name, await certifyToyRun(work, sim.address, dataset, name, STEPS, spoof));
  });
  after(async () => {
    await sim?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('each request sees only what the protocol gives it: init meta.json, replay i also checkpoint i and the batches up to its end, loss its checkpoint', async () => {
    const seen: Array<{ mode: string; segment?: string; files: string[]; batchLines: number; checkpoint?: string }> =
      [];
    const inner = trainerFor('honest').run;
    const spy: RunTrainer = async (v: TrainerVariables) => {
      const files = await listing(v.AICERT_TRANSCRIPT!);
      const batches = files.includes('batches.jsonl')
        ? (await readFile(join(v.AICERT_TRANSCRIPT!, 'batches.jsonl'), 'utf8')).split('\n').length - 1
        : 0;
      seen.push({
        mode: v.AICERT_TRAINER_MODE!,
        segment: v.AICERT_SEGMENT,
        files,
        batchLines: batches,
        checkpoint: v.AICERT_CHECKPOINT && relative(v.AICERT_TRANSCRIPT!, v.AICERT_CHECKPOINT),
      });
      return inner(v);
    };
    const r = parseAuditReport(
      await auditRun(
        auditOptions(runs.get('honest')!, spy, { random: 3, members: 20, tolerance: { mode: 'calibrated' } }),
      ),
    );
    assert.equal(r.verdict, 'passed', notOk(r));
    const transcript = runs.get('honest')!.transcript;
    for (const s of seen) {
      if (s.mode === 'init') assert.deepEqual(s.files, ['meta.json'], 'init');
      else if (s.mode === 'loss') {
        assert.deepEqual(
          s.files.filter((f) => f !== s.checkpoint),
          ['meta.json'],
          'loss',
        );
        assert.match(
          s.checkpoint!,
          /^checkpoints\/\d{6}\.safetensors$/,
          "loss mode's checkpoint lies inside its own directory",
        );
      } else {
        const i = Number(s.segment);
        assert.deepEqual(
          s.files,
          ['batches.jsonl', `checkpoints/${String(i).padStart(6, '0')}.safetensors`, 'meta.json'],
          `replay ${i}`,
        );
        assert.equal(
          s.batchLines,
          Math.min((i + 1) * CHECKPOINT_EVERY, STEPS),
          `replay ${i} sees the batches up to the end of its segment, none after`,
        );
      }
    }
    assert.ok(
      seen.some((s) => s.mode === 'replay') &&
        seen.some((s) => s.mode === 'loss') &&
        seen.some((s) => s.mode === 'init'),
    );
    assert.ok(!seen.some((s) => s.files.length > 3), `nothing else: ${transcript} stays out of reach`);
  });

  test('a replay mode that copies checkpoint i+1 from AICERT_TRANSCRIPT fails at replay (here on an interpolated transcript)', async () => {
    const r = await audit('interpolate', {}, { TOY_SPOOF: 'peek-next' });
    assert.equal(failedCheck(r), 'replay', notOk(r));
    assert.ok(
      r.segments.every((s) => s.replay && !s.replay.accepted),
      'no replay could copy its answer',
    );
    assert.match(r.segments[0]!.replay!.reason, /the trainer \(replay mode\) failed: ENOENT/);
    // The same with the trainer run as a command, one process per request.
    const command = await audit('interpolate', {
      runTrainer: commandTrainer(['env', 'TOY_SPOOF=peek-next', process.execPath, TOY_TRAINER], 60_000),
      random: 2,
      members: 20,
    });
    assert.equal(failedCheck(command), 'replay', notOk(command));
    assert.match(command.segments[0]!.replay!.reason, /exited with status 1; its last output: toy-trainer: ENOENT/);
  });

  describe('optimizer state: a momentum buffer injected at checkpoint 58 (weights kept) to steer segment 58', () => {
    test('the forged segment 57 ranks first and fails its replay in every default audit', async (t) => {
      let detected = 0;
      const caughtBy = new Map<string, number>();
      for (let j = 0; j < TRIALS; j++) {
        const r = await audit('momentum-injection', { auditSeed: auditSeed(`momentum-injection/trial/${j}`) });
        if (r.verdict === 'passed') continue;
        detected++;
        caughtBy.set(failedCheck(r)!, (caughtBy.get(failedCheck(r)!) ?? 0) + 1);
        const rejected = r.segments.filter((s) => !s.replay!.accepted);
        assert.deepEqual(
          rejected.map((s) => [s.index, s.chosenBy]),
          [[57, 'top-q']],
          'only the forged segment fails, found by the ranking',
        );
      }
      t.diagnostic(
        `momentum injection: ${detected}/${TRIALS} default audits failed, at ${[...caughtBy].map(([c, n]) => `${c} ×${n}`).join(', ') || 'nothing'}`,
      );
      assert.equal(detected, TRIALS);
      assert.equal(caughtBy.get('replay'), TRIALS);
      const r = await audit('momentum-injection');
      const top = r.segments.filter((s) => s.chosenBy === 'top-q').map((s) => s.index);
      assert.deepEqual(top.slice(0, 1), [57], `the state jump no segment explains ranks first (top-Q ${top})`);
      const s58 = r.segments.find((s) => s.index === 58);
      if (s58)
        assert.equal(s58.replay!.digestEqual, true, 'segment 58 itself replays bit for bit from the injected state');
    });

    test('a relative or a calibrated tolerance rejects the forged segment too: its optimizer state is compared', async (t) => {
      for (const tolerance of [{ mode: 'relative', delta: 1e-4 }, { mode: 'calibrated' }] as const) {
        const r = await audit('momentum-injection', { tolerance });
        assert.equal(failedCheck(r), 'replay', `${JSON.stringify(tolerance)}: ${notOk(r)}`);
        const forged = r.segments.find((s) => s.index === 57)!;
        assert.equal(forged.replay!.accepted, false);
        assert.match(forged.replay!.reason, /optimizer state/);
        assert.equal(forged.replay!.distance, 0, 'its weights are exactly the claimed ones');
        t.diagnostic(`${JSON.stringify(tolerance)}: segment 57 ${forged.replay!.reason}`);
      }
    });

    test('the honest run still passes the default and the calibrated audit', async () => {
      for (const tolerance of [{ mode: 'exact' }, { mode: 'calibrated' }] as const) {
        const r = await audit('honest', { tolerance });
        assert.equal(r.verdict, 'passed', notOk(r));
      }
    });
  });
});
