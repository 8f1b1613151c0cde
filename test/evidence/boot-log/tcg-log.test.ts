import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { MAX_BOOT_LOG_BYTES, parseTcgLog, type TcgLog } from '../../../src/evidence/boot-log/tcg-log.js';
import { extractBootFacts } from '../../../src/evidence/boot-log/boot-facts.js';
import { describeBootLog } from '../../../src/evidence/boot-log/describe-boot-log.js';
import { AicertError } from '../../../src/errors.js';
import { checkBootLog, parsePolicy } from '../../../src/evidence/policy.js';
import { replayTcgLog } from '../../../src/evidence/boot-log/replay.js';
import { EV_EFI_ACTION } from '../../../src/evidence/boot-log/tcg-event-types.js';
import { assertProperty } from '../../util/property.js';
import { EVENTLOG_FIXTURES, readEventLogFixture } from './fixtures.js';

const refused = (bytes: Uint8Array, pattern: RegExp) =>
  assert.throws(
    () => parseTcgLog(bytes),
    (err: AicertError) => err.code === 'bootlog.malformed' && err.exitStatus === 2 && pattern.test(err.message),
  );
const factsOf = (name: string) => extractBootFacts(parseTcgLog(readEventLogFixture(name)).events, 'sha256');

/** The offset just after the Spec ID event (the first record) of a crypto-agile log. */
const afterSpecId = (log: Buffer) => 32 + log.readUInt32LE(28);

test('a crypto-agile log: the Spec ID event declares the banks, every later event has their digests', () => {
  const log = parseTcgLog(readEventLogFixture('ubuntu-2404-amd-sevsnp.bin'));
  assert.equal(log.format, 'crypto-agile');
  assert.deepEqual(
    log.algorithms.map((a) => [a.name, a.size]),
    [
      ['sha1', 20],
      ['sha256', 32],
      ['sha384', 48],
    ],
  );
  assert.equal(log.events[0]!.type, 3);
  for (const event of log.events.slice(1)) assert.deepEqual([...event.digests.keys()], ['sha1', 'sha256', 'sha384']);
});

test('a legacy SHA-1 log (TPM 1.2 layout) parses with the one SHA-1 bank', () => {
  const log = parseTcgLog(readEventLogFixture('debian-10.bin'));
  assert.equal(log.format, 'sha1');
  assert.deepEqual(
    log.algorithms.map((a) => a.name),
    ['sha1'],
  );
});

test('facts: Secure Boot on and off, PK/KEK/db/dbx, boot applications, kernel and its command line', () => {
  const cos = factsOf('cos-85-amd-sev.bin');
  assert.equal(cos.secureBoot, true);
  assert.deepEqual(Object.keys(cos.secureBootVariables).sort(), ['KEK', 'PK', 'db', 'dbx']);
  assert.deepEqual(cos.problems, []);
  assert.deepEqual(cos.separators, [0, 1, 2, 3, 4, 5, 6, 7]);
  const ubuntu = factsOf('ubuntu-2404-amd-sevsnp.bin');
  assert.equal(ubuntu.secureBoot, false);
  assert.equal(ubuntu.bootApplications.length, 2);
  for (const app of ubuntu.bootApplications) assert.match(app.digest, /^[0-9a-f]{64}$/);
  assert.deepEqual(ubuntu.kernelCommandLines, [
    '/vmlinuz-6.8.0-1010-gcp root=PARTUUID=8270f3c9-b4e4-4345-80ee-5a62db7ebf3f ro console=ttyS0,115200 panic=-1',
  ]);
  assert.equal(ubuntu.kernels.length, 1);
  assert.equal(ubuntu.kernels[0]!.path, '/vmlinuz-6.8.0-1010-gcp');
  assert.ok(ubuntu.grubCommands.some((c) => c.startsWith('linux /vmlinuz-6.8.0-1010-gcp')));
  assert.ok(ubuntu.shim.some((s) => s.name === 'MokList'));
  // A device-qualified GRUB path still names its kernel.
  const coreos = factsOf('coreos_36_shielded_vm_no_secure_boot_eventlog');
  assert.equal(coreos.kernels.length, 1);
  assert.equal(coreos.secureBoot, false);
});

test('every committed log parses with no contradictions in its facts', () => {
  for (const name of EVENTLOG_FIXTURES) {
    const log = parseTcgLog(readEventLogFixture(name));
    const described = describeBootLog(log);
    assert.deepEqual(described.facts?.problems, [], name);
    assert.equal(described.events.length, log.events.length);
  }
});

test('a GRUB command whose text does not hash to its digest gives no fact, a problem', () => {
  const bytes = Buffer.from(readEventLogFixture('ubuntu-2404-amd-sevsnp.bin'));
  const at = bytes.indexOf('kernel_cmdline: /vmlinuz');
  const flag = bytes.indexOf('panic=-1', at);
  bytes.write('panic=+1', flag, 'latin1');
  const facts = extractBootFacts(parseTcgLog(bytes).events, 'sha256');
  // The edited text gives no fact; the command line left is the one GRUB's (unedited) `linux` command shows.
  assert.deepEqual(facts.kernelCommandLines, [
    '/vmlinuz-6.8.0-1010-gcp root=PARTUUID=8270f3c9-b4e4-4345-80ee-5a62db7ebf3f ro console=ttyS0,115200 panic=-1',
  ]);
  assert.match(facts.problems.join(), /"kernel_cmdline:" text does not hash to its digest/);
});

/** Where an event of a parsed crypto-agile log starts in its bytes (pcr u32, type u32, digests, size u32, data). */
const eventStart = (bytes: Buffer, log: TcgLog, seq: number) => {
  const event = log.events.find((e) => e.seq === seq)!;
  const digests = log.algorithms.reduce((n, a) => n + 2 + a.size, 0);
  return event.data.byteOffset - bytes.byteOffset - 4 - digests - 12;
};
const pcrValues = (bytes: Buffer) => replayTcgLog(parseTcgLog(bytes)).banks.get('sha256');
const boot = (policy: string, facts: ReturnType<typeof extractBootFacts>) =>
  checkBootLog(parsePolicy(`version: 1\nbootLog: ${policy}\n`), facts).filter((r) => r.status !== 'skipped');

test("an event's type is a label: a boot application retyped in PCR 4 still counts, and an unlisted one is refused", () => {
  const bytes = Buffer.from(readEventLogFixture('ubuntu-2404-amd-sevsnp.bin'));
  const before = factsOf('ubuntu-2404-amd-sevsnp.bin');
  const [shim, grub] = before.bootApplications;
  // The forger retypes GRUB's image event as an EV_EFI_ACTION: no digest covers the type, the PCRs replay as before.
  bytes.writeUInt32LE(EV_EFI_ACTION, eventStart(bytes, parseTcgLog(bytes), grub!.seq) + 4);
  assert.deepEqual(pcrValues(bytes), pcrValues(readEventLogFixture('ubuntu-2404-amd-sevsnp.bin')));
  const after = extractBootFacts(parseTcgLog(bytes).events, 'sha256');
  assert.deepEqual(
    after.bootApplications.map((a) => a.digest),
    [shim!.digest, grub!.digest],
  );
  const [check] = boot(`{ bootApplications: ["${shim!.digest}"] }`, after);
  assert.equal(check!.status, 'failed');
  assert.match(check!.reason, new RegExp(`not in bootLog.bootApplications: ${grub!.digest}`));
});

test('a GRUB prefix is a label: a command line retyped still is one, and one whose text is hidden fails policy.cmdline', () => {
  const original = readEventLogFixture('ubuntu-2404-amd-sevsnp.bin');
  const at = original.indexOf('kernel_cmdline: /vmlinuz');
  const seq = parseTcgLog(original).events.find((e) => e.data.byteOffset - original.byteOffset === at)!.seq;
  const retyped = Buffer.from(original);
  retyped.writeUInt32LE(EV_EFI_ACTION, eventStart(retyped, parseTcgLog(retyped), seq) + 4);
  const hidden = Buffer.from(original);
  hidden.write('kernel_cmdlinX', at, 'latin1');
  for (const bytes of [retyped, hidden])
    assert.deepEqual(pcrValues(bytes), pcrValues(original), 'the change is invisible to the replay');
  // Retyped: still read, by its text; `panic` is in it (and in GRUB's `linux` command).
  const [flagged] = boot('{ forbiddenCmdline: ["panic"] }', extractBootFacts(parseTcgLog(retyped).events, 'sha256'));
  assert.match(flagged!.reason, /forbidden flags: panic=-1/);
  // Hidden: its digest is no hash of GRUB text, so the log cannot say no command line hides there.
  const facts = extractBootFacts(parseTcgLog(hidden).events, 'sha256');
  assert.deepEqual(facts.unreadCommandEvents, [seq]);
  const [refused] = boot('{ forbiddenCmdline: ["nomodeset"] }', facts);
  assert.equal(refused!.status, 'failed');
  assert.match(refused!.reason, new RegExp(`PCR 8 events ${seq} are no GRUB text`));
  assert.equal(boot('{ forbiddenCmdline: ["nomodeset"] }', factsOf('ubuntu-2404-amd-sevsnp.bin'))[0]!.status, 'ok');
});

test('a SecureBoot variable whose data does not hash to its digest is a problem, not a fact', () => {
  const bytes = Buffer.from(readEventLogFixture('cos-85-amd-sev.bin'));
  const name = Buffer.from('SecureBoot', 'utf16le');
  const at = bytes.indexOf(name) + name.length;
  assert.equal(bytes[at], 1);
  bytes[at] = 0;
  const facts = extractBootFacts(parseTcgLog(bytes).events, 'sha256');
  assert.equal(facts.secureBoot, null);
  assert.match(facts.problems.join(), /SecureBoot: its data does not hash to its digest/);
});

test('malformed logs are refused with the field at fault', () => {
  const good = readEventLogFixture('cos-85-amd-sev.bin');
  refused(Buffer.alloc(0), /empty/);
  refused(good.subarray(0, 20), /event 0: SHA-1 digest/);
  refused(good.subarray(0, good.length - 1), /event data at byte/);
  const spec = Buffer.from(good);
  spec.writeUInt32LE(99, 32 + 24); // numberOfAlgorithms
  refused(spec, /declares 99 algorithms/);
  const size = Buffer.from(good);
  size.writeUInt16LE(33, 32 + 28 + 4 + 2); // sha256's digest size
  refused(size, /sha256 digests 33 bytes/);
  const count = Buffer.from(good);
  count.writeUInt32LE(4, afterSpecId(good) + 8);
  refused(count, /has 4 digests, the log declares 3/);
  const alg = Buffer.from(good);
  alg.writeUInt16LE(0x0012, afterSpecId(good) + 12);
  refused(alg, /algorithm 0x0012, which the Spec ID event does not declare/);
  const pcr = Buffer.from(good);
  pcr.writeUInt32LE(24, afterSpecId(good));
  refused(pcr, /names PCR 24/);
  refused(Buffer.alloc(MAX_BOOT_LOG_BYTES + 1), /over the/);
});

test('a size field claiming 4 GiB is refused without allocating it', () => {
  const good = readEventLogFixture('cos-85-amd-sev.bin');
  const bomb = Buffer.from(good);
  const first = afterSpecId(good);
  // The first event's data size follows pcr, type, count and three digests.
  bomb.writeUInt32LE(0xffffffff, first + 12 + 2 + 20 + 2 + 32 + 2 + 48);
  refused(bomb, /needs 4294967295 bytes/);
});

test('random mutations of real logs parse or are refused as malformed, never anything else', () => {
  const seeds = EVENTLOG_FIXTURES.slice(0, 6).map(readEventLogFixture);
  assertProperty(
    fc.property(
      fc.nat(seeds.length - 1),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      fc.option(fc.nat()),
      (i, flips, cut) => {
        const bytes = Buffer.from(seeds[i]!);
        for (const [at, value] of flips) bytes[at % bytes.length] = value;
        const input = cut === null ? bytes : bytes.subarray(0, cut % bytes.length);
        let log: TcgLog;
        try {
          log = parseTcgLog(input);
        } catch (err) {
          assert.ok(err instanceof AicertError && err.code === 'bootlog.malformed', String(err));
          return;
        }
        describeBootLog(log);
      },
    ),
    { numRuns: 300 },
  );
});

test('the JSON description replays what the events say', () => {
  const log = parseTcgLog(readEventLogFixture('rhel8-uefi.bin'));
  const described = describeBootLog(log);
  let pcr4: Buffer = Buffer.alloc(32);
  for (const e of log.events.filter((e) => e.pcr === 4 && e.type !== 3))
    pcr4 = createHash('sha256').update(pcr4).update(e.digests.get('sha256')!).digest();
  assert.equal(described.pcrs.sha256!['4'], pcr4.toString('hex'));
  assert.equal(described.events[0]!.type, 'EV_NO_ACTION');
});
