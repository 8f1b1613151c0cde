import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandTrainer, trainerEnvironment, type ProtocolRun } from '../../src/audit/trainer-invocation.js';

const run: ProtocolRun = { seed: 'aa'.repeat(32), checkpointEvery: 10, holdoutFraction: 0.1, dataset: '/d.jsonl' };
let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'aicert-invocation-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

test('each request carries the protocol variables of its mode, and the transcript directory it is shown', () => {
  const replay = trainerEnvironment(run, '/t', { mode: 'replay', segment: 7, output: '/o' });
  assert.deepEqual(replay, {
    AICERT_TRAINER_PROTOCOL: '1',
    AICERT_TRAINER_MODE: 'replay',
    AICERT_SEED: run.seed,
    AICERT_TRANSCRIPT: '/t',
    AICERT_CHECKPOINT_EVERY: '10',
    AICERT_HOLDOUT_FRACTION: '0.1',
    AICERT_DATASET: '/d.jsonl',
    AICERT_OUTPUT: '/o',
    AICERT_SEGMENT: '7',
  });
  assert.equal(trainerEnvironment(run, '/request-7', { mode: 'init', output: '/o' }).AICERT_TRANSCRIPT, '/request-7');
  const loss = trainerEnvironment(run, '/t', { mode: 'loss', checkpoint: '/c', records: '/r', output: '/o' });
  assert.equal(loss.AICERT_CHECKPOINT, '/c');
  assert.equal(loss.AICERT_RECORDS, '/r');
  assert.equal(loss.AICERT_SEGMENT, undefined);
});

const node = (script: string) => commandTrainer([process.execPath, '-e', script], 5_000);

test('the command runs with the variables and answers in AICERT_OUTPUT', async () => {
  const output = join(work, 'answer');
  await node(
    `require('fs').writeFileSync(process.env.AICERT_OUTPUT, process.env.AICERT_TRAINER_MODE + ' ' + process.env.AICERT_SEGMENT)`,
  )(trainerEnvironment(run, '/t', { mode: 'replay', segment: 3, output }));
  assert.equal(await readFile(output, 'utf8'), 'replay 3');
});

test('a trainer that fails, writes nothing or overruns the timeout has not answered: the audit fails', async () => {
  const request = trainerEnvironment(run, '/t', { mode: 'init', output: join(work, 'never') });
  await assert.rejects(
    node(`console.error('out of memory'); process.exit(3)`)(request),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'audit.trainer');
      assert.match(err.message, /init mode\) exited with status 3; its last output: out of memory/);
      return true;
    },
  );
  await assert.rejects(node('')(request), /exited 0 but wrote nothing/);
  const started = Date.now();
  await assert.rejects(
    commandTrainer([process.execPath, '-e', 'setTimeout(() => {}, 60000)'], 300)(request),
    /did not finish within 0.3 s/,
  );
  assert.ok(Date.now() - started < 10_000);
});

test("a failing trainer's output is quoted with its control characters escaped: no terminal escape gets through", async () => {
  const request = trainerEnvironment(run, '/t', { mode: 'init', output: join(work, 'never') });
  // Clear the screen, retitle the window (OSC … BEL), return the cursor, and a bidi override.
  const hostile = '\x1b[2J\x1b]0;owned\x07\rverdict: PASSED \u202e\x9b31m';
  await assert.rejects(
    node(`process.stderr.write(${JSON.stringify(hostile)}); process.exit(1)`)(request),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'audit.trainer');
      assert.doesNotMatch(err.message, /[\u0000-\u001f\u007f-\u009f\u202e]/u, 'no control character is left');
      assert.ok(
        err.message.endsWith('its last output: \\x1b[2J\\x1b]0;owned\\x07\\rverdict: PASSED \\u{202e}\\x9b31m'),
        err.message,
      );
      return true;
    },
  );
});

test('a command that cannot start is a usage error; so is none', async () => {
  await assert.rejects(
    commandTrainer(
      [join(work, 'no-such-program')],
      1000,
    )(trainerEnvironment(run, '/t', { mode: 'init', output: '/o' })),
    { code: 'usage.command' },
  );
  assert.throws(() => commandTrainer([], 1000), { code: 'usage.command' });
});
