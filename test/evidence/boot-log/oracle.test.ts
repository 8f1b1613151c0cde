import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { parseTcgLog, type TcgLog } from '../../../src/evidence/boot-log/tcg-log.js';
import { EV_NO_ACTION } from '../../../src/evidence/boot-log/tcg-event-types.js';
import { replayTcgLog } from '../../../src/evidence/boot-log/replay.js';
import { EVENTLOG_DIR, EVENTLOG_FIXTURES, readEventLogFixture } from './fixtures.js';

/**
 * `tpm2_eventlog` (tpm2-tools, C, an independent parser) prints the value each PCR of each bank
 * replays to; aicert's parser must compute the same for every real log committed.
 */
function oraclePcrs(file: string): Map<string, Map<number, string>> {
  const yaml = execFileSync('tpm2_eventlog', [file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const banks = new Map<string, Map<number, string>>();
  const tail = yaml.slice(yaml.lastIndexOf('\npcrs:\n'));
  let bank: Map<number, string> | undefined;
  for (const line of tail.split('\n')) {
    const header = /^ {2}(\w+):$/.exec(line);
    if (header) {
      bank = new Map();
      banks.set(header[1]!, bank);
    }
    const value = /^ {4}(\d+)\s*: 0x([0-9a-f]+)$/.exec(line);
    if (value && bank) bank.set(Number(value[1]), value[2]!);
  }
  return banks;
}

test('there are real event logs to compare, of both formats and with several banks', () => {
  assert.ok(EVENTLOG_FIXTURES.length >= 15, `only ${EVENTLOG_FIXTURES.length} fixtures`);
  const logs = EVENTLOG_FIXTURES.map((name) => parseTcgLog(readEventLogFixture(name)));
  assert.ok(logs.some((l) => l.format === 'sha1'));
  assert.ok(logs.some((l) => l.algorithms.map((a) => a.name).join() === 'sha1,sha256,sha384'));
});

/**
 * tpm2-tools 5.4 (Debian's) extends every record after the Spec ID event, EV_NO_ACTION ones too,
 * from zero (tpm2-software/tpm2-tools#3224, fixed by PR #3230 in 5.6); the PC Client profile says
 * EV_NO_ACTION extends nothing and a StartupLocality event sets PCR 0's reset value. In a PCR
 * with such a record the two differ, so there the oracle is checked against that model of 5.4
 * (which must reproduce it exactly) and aicert's value against the spec model with the same events.
 */
function tpm2Tools54Replay(log: TcgLog, bank: string, pcr: number): string {
  const size = log.algorithms.find((a) => a.name === bank)!.size;
  let value: Buffer = Buffer.alloc(size);
  for (const event of log.events.slice(1).filter((e) => e.pcr === pcr))
    value = createHash(bank).update(value).update(event.digests.get(bank)!).digest();
  return value.toString('hex');
}

for (const name of EVENTLOG_FIXTURES) {
  test(`${name}: every PCR of every bank replays to the value tpm2_eventlog computes`, () => {
    const expected = oraclePcrs(EVENTLOG_DIR + name);
    assert.ok(expected.size > 0, 'tpm2_eventlog printed no PCRs');
    const log = parseTcgLog(readEventLogFixture(name));
    const replayed = replayTcgLog(log);
    assert.deepEqual([...replayed.incomplete], []);
    const noAction = new Set(
      log.events
        .slice(1)
        .filter((e) => e.type === EV_NO_ACTION)
        .map((e) => e.pcr),
    );
    assert.deepEqual([...replayed.banks.keys()], [...expected.keys()], 'the banks');
    for (const [bank, values] of replayed.banks) {
      const oracle = expected.get(bank)!;
      assert.deepEqual([...values.keys()], [...oracle.keys()], `the PCRs of bank ${bank}`);
      for (const [pcr, value] of values) {
        if (!noAction.has(pcr)) {
          assert.equal(value.toString('hex'), oracle.get(pcr), `${bank} PCR ${pcr}`);
          continue;
        }
        assert.equal(tpm2Tools54Replay(log, bank, pcr), oracle.get(pcr), `${bank} PCR ${pcr}: the model of 5.4`);
        const spec = log.events.filter((e) => e.pcr === pcr && e.type !== EV_NO_ACTION);
        const locality = log.events.find((e) => e.pcr === 0 && e.data.toString('latin1').startsWith('StartupLocality'));
        let want: Buffer = Buffer.alloc(value.length);
        if (pcr === 0 && locality) want[want.length - 1] = locality.data.at(-1)!;
        for (const event of spec) want = createHash(bank).update(want).update(event.digests.get(bank)!).digest();
        assert.equal(value.toString('hex'), want.toString('hex'), `${bank} PCR ${pcr}: the spec's replay`);
      }
    }
  });
}
