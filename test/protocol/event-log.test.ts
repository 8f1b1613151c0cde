import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import { canonicalize } from '../../src/util/jcs.js';
import {
  eventDigest,
  makeRecord,
  parseEventLog,
  replayEventLog,
  verifyEventLog,
  type CelRecord,
} from '../../src/protocol/event-log.js';
import { AicertError, VerificationError } from '../../src/errors.js';
import type { CheckpointEvent } from '../../src/protocol/run-events.js';

test('JCS sorts keys by UTF-16 code units and drops whitespace (RFC 8785 examples)', () => {
  assert.equal(
    canonicalize({ b: 1, a: [true, null, 'x'], c: { z: 1e21, y: 0.000001 } }),
    '{"a":[true,null,"x"],"b":1,"c":{"y":0.000001,"z":1e+21}}',
  );
  // RFC 8785 §3.2.3: "\u20ac" (€) sorts after "\r" and before "\ud83d\ude00" by UTF-16 units.
  assert.equal(canonicalize({ '\u20ac': 1, '\r': 2, '\ud83d\ude00': 3, '1': 4 }), '{"\\r":2,"1":4,"€":1,"😀":3}');
  assert.throws(() => canonicalize({ x: Number.NaN }), TypeError);
});

test('an event digest is SHA-256 of the canonical JSON of its content', () => {
  const content = { type: 'input' as const, role: 'dataset', digest: { sha256: 'ab' } };
  assert.deepEqual(
    eventDigest(content),
    createHash('sha256').update('{"digest":{"sha256":"ab"},"role":"dataset","type":"input"}').digest(),
  );
});

function sampleLog(n: number): CelRecord[] {
  return Array.from({ length: n }, (_, i) =>
    makeRecord(i, { kind: 'pcr', pcr: 23 }, { type: 'checkpoint', index: i, sha256: 'ab'.repeat(32), bytes: i }),
  );
}

test('a log replays to the PCR value it was extended into and verifies', async () => {
  const log = sampleLog(5);
  let pcr: Buffer = Buffer.alloc(32);
  for (const r of log) pcr = createHash('sha256').update(pcr).update(Buffer.from(r.digests[0]!.digest, 'hex')).digest();
  assert.deepEqual(await replayEventLog(log), pcr);
  assert.deepEqual(
    (await verifyEventLog(log, { kind: 'pcr', pcr: 23 }, pcr)).map((e) => (e as CheckpointEvent).index),
    [0, 1, 2, 3, 4],
  );
});

async function rejects(log: CelRecord[], quoted: Buffer, code: string): Promise<void> {
  await assert.rejects(
    () => verifyEventLog(log, { kind: 'pcr', pcr: 23 }, quoted),
    (err: unknown) => err instanceof VerificationError && err.code === code,
  );
}

test('edited, dropped, reordered and duplicated events each fail with their own reason', async () => {
  const log = sampleLog(4);
  const quoted = await replayEventLog(log);
  const edited = structuredClone(log);
  edited[2]!.content.index = 99;
  await rejects(edited, quoted, 'eventlog.content');
  const dropped = log.filter((_, i) => i !== 2).map((r, i) => ({ ...r, recnum: i }));
  await rejects(dropped, quoted, 'eventlog.replay');
  const reordered = [log[0]!, log[2]!, log[1]!, log[3]!].map((r, i) => ({ ...r, recnum: i }));
  await rejects(reordered, quoted, 'eventlog.replay');
  const duplicated = [...log, log[3]!].map((r, i) => ({ ...r, recnum: i }));
  await rejects(duplicated, quoted, 'eventlog.replay');
  await rejects([log[0]!, log[2]!, log[1]!, log[3]!], quoted, 'eventlog.sequence');
  await rejects(
    log.map((r) => ({ ...r, pcr: 16 })),
    quoted,
    'eventlog.sequence',
  );
  // Digest and content edited together still cannot match the quoted PCR.
  const forged = structuredClone(log);
  forged[1]!.content.index = 42;
  forged[1] = makeRecord(1, { kind: 'pcr', pcr: 23 }, forged[1]!.content as CheckpointEvent);
  await rejects(forged, quoted, 'eventlog.replay');
});

test('parseEventLog refuses malformed records with an input error, never a crash', () => {
  assert.equal(parseEventLog(JSON.parse(JSON.stringify(sampleLog(3)))).length, 3);
  assertProperty(
    fc.property(fc.jsonValue(), (json) => {
      try {
        parseEventLog(json);
      } catch (err) {
        assert.ok(err instanceof AicertError);
      }
    }),
    { numRuns: 2000 },
  );
  assert.throws(() => parseEventLog([{ ...sampleLog(1)[0], extra: 1 }]), AicertError);
  assert.throws(() => parseEventLog([{ ...sampleLog(1)[0], content: { type: 'reboot' } }]), AicertError);
});
