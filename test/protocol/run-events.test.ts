import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VerificationError } from '../../src/errors.js';
import { makeRecord, replayEventLog, verifyEventLog } from '../../src/protocol/event-log.js';
import { parseRunEvent, readClaimedEvent, type RunEvent } from '../../src/protocol/run-events.js';
import { checkRunOrder, readRunLog } from '../../src/protocol/run-log.js';

const HEX32 = 'ab'.repeat(32);

/** The events of a small protocol-trainer run, in the order `aicert run` extends them. */
function runEvents(): RunEvent[] {
  return [
    {
      type: 'session',
      sessionId: '01'.repeat(16),
      nonce: HEX32,
      startedAt: '2026-12-05T08:00:00.000Z',
      pcr: 23,
      akName: `000b${HEX32}`,
      aicertVersion: '0.1.0',
    },
    {
      type: 'environment',
      os: { platform: 'linux', release: '6.1.0', arch: 'x64' },
      node: 'v20.19.0',
      cpu: { model: 'cpu', count: 2 },
      memoryBytes: 1024,
      tpm: { manufacturer: 'IBM', vendor: 'SW TPM', firmware: '1.0' },
    },
    { type: 'input', role: 'code', name: 'code', digest: { sha256: HEX32 }, files: 1, bytes: 10 },
    { type: 'input', role: 'dataset', name: 'data', digest: { sha256: HEX32 }, files: 1, bytes: 10 },
    { type: 'command', argv: ['node', 'train.js'], output: 'model' },
    {
      type: 'commitment',
      events: [HEX32],
      trainer: {
        protocol: 1,
        seed: HEX32,
        r: HEX32,
        rSource: 'tpm',
        checkpointEvery: 10,
        holdoutFraction: 0.1,
        dataset: { input: 'data', path: '.' },
      },
    },
    { type: 'checkpoint', index: 0, sha256: HEX32, bytes: 100 },
    { type: 'checkpoint', index: 1, sha256: HEX32, bytes: 100 },
    { type: 'exit', exitCode: 0, signal: null, success: true, durationMs: 5, finishedAt: '2026-12-05T08:01:00.000Z' },
    { type: 'output', role: 'model', name: 'model', digest: { sha256: HEX32 }, files: 1, bytes: 10 },
  ];
}

function rejected(content: Record<string, unknown>, code: string, message: RegExp): void {
  assert.throws(
    () => parseRunEvent(content as { type: RunEvent['type'] }, 7),
    (e) => e instanceof VerificationError && e.code === code && message.test(e.message),
  );
}

test('every event a run writes parses back into the same typed event', () => {
  for (const event of runEvents()) assert.deepEqual(parseRunEvent(event, 0), event);
});

test('a verified log comes back typed, and by role through readRunLog', async () => {
  const records = runEvents().map((e, i) => makeRecord(i, { kind: 'pcr', pcr: 23 }, e));
  const events = await verifyEventLog(records, { kind: 'pcr', pcr: 23 }, await replayEventLog(records));
  const log = readRunLog(events);
  assert.equal(log.session.pcr, 23);
  assert.deepEqual(
    log.inputs.map((i) => i.role),
    ['code', 'dataset'],
  );
  assert.equal(log.commitmentIndex, 5);
  assert.equal(log.commitment.trainer?.checkpointEvery, 10);
  assert.deepEqual(
    log.checkpoints.map((c) => c.index),
    [0, 1],
  );
  assert.equal(log.exit.success, true);
  assert.deepEqual(
    log.outputs.map((o) => o.role),
    ['model'],
  );
});

test('an event with correct digests but a malformed content is refused at eventlog.content', async () => {
  const events = runEvents();
  const bad = { ...events[8]!, exitCode: '0' } as unknown as RunEvent;
  const records = [...events.slice(0, 8), bad, ...events.slice(9)].map((e, i) =>
    makeRecord(i, { kind: 'pcr', pcr: 23 }, e),
  );
  const quoted = await replayEventLog(records);
  await assert.rejects(
    () => verifyEventLog(records, { kind: 'pcr', pcr: 23 }, quoted),
    (e) =>
      e instanceof VerificationError &&
      e.code === 'eventlog.content' &&
      /event 8 \(exit\) is malformed at exitCode/.test(e.message),
  );
});

test('malformed events are refused with the field named; unknown fields too (fail closed)', () => {
  const [session, , code, , , commitment, checkpoint] = runEvents();
  rejected({ ...session, pcr: 24 }, 'eventlog.content', /event 7 \(session\) is malformed at pcr/);
  rejected({ ...session, extra: 1 }, 'eventlog.content', /\(session\) is malformed/);
  rejected({ ...code, role: 'weights' }, 'eventlog.content', /at role/);
  rejected({ ...code, digest: { sha256: 'AB'.repeat(32) } }, 'eventlog.content', /at digest\.sha256/);
  rejected({ ...checkpoint, index: -1 }, 'eventlog.content', /at index/);
  rejected({ ...commitment, events: ['zz'] }, 'eventlog.content', /at events\.0/);
});

test('a malformed trainer commitment is reported as trainer.commitment', () => {
  const commitment = runEvents()[5]! as Extract<RunEvent, { type: 'commitment' }>;
  rejected(
    { ...commitment, trainer: { ...commitment.trainer, protocol: 2 } },
    'trainer.commitment',
    /at trainer\.protocol/,
  );
  rejected({ ...commitment, trainer: { ...commitment.trainer, r: 'not hex' } }, 'trainer.commitment', /at trainer\.r/);
});

test('readClaimedEvent shows well-formed claims and drops malformed ones without throwing', () => {
  const [session] = runEvents();
  assert.deepEqual(readClaimedEvent(session!), session);
  assert.equal(readClaimedEvent({ ...session!, pcr: 'x' } as unknown as RunEvent), undefined);
});

test('only the order of a run is accepted: session, environment, inputs, command, commitment, checkpoints, exit, outputs', () => {
  const types = runEvents().map((e) => e.type);
  assert.equal(checkRunOrder(types), 5);
  const wrong = (t: RunEvent['type'][]) =>
    assert.throws(
      () => checkRunOrder(t),
      (e) => e instanceof VerificationError && e.code === 'eventlog.order',
    );
  wrong(types.filter((t) => t !== 'input'));
  wrong([...types.slice(0, 4), 'commitment', 'command', ...types.slice(6)]);
  wrong([...types, 'checkpoint']);
  wrong([...types, 'session']);
});
