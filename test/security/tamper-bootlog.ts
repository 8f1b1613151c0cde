/**
 * Mutants of a certificate that carries a real firmware boot log (the Ubuntu 24.04 SEV-SNP log
 * of test/fixtures/eventlogs/, extended into a fresh swtpm's PCRs so the quotes cover its
 * values): event digests bit-flipped, events removed, reordered, moved to another PCR or
 * retyped, digest-checked event data rewritten, the log truncated, swapped or removed. Each is
 * rejected at a named check. Its AK is not enrolled, so the mutants are verified with
 * untrusted AKs allowed: what is attacked is the boot log, not the AK.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startSimulator } from '../../src/tpm/simulator.js';
import { Tpm } from '../../src/tpm/client.js';
import { TPM_ALG } from '../../src/tpm/constants.js';
import { certifiedRun } from '../../src/run/certified-run.js';
import { parseTcgLog, type TcgEvent } from '../../src/evidence/boot-log/tcg-log.js';
import { EV_NO_ACTION, EV_SEPARATOR } from '../../src/evidence/boot-log/tcg-event-types.js';
import { EVENTLOG_DIR, readEventLogFixture } from '../evidence/boot-log/fixtures.js';
import { parse, serialize, type Json, type Mutant } from './tamper-corpus.js';
import { TRAIN, type SecurityFixtures } from './swtpm-fixtures.js';

const FIXTURE = 'ubuntu-2404-amd-sevsnp.bin';
const DIGEST_FLIPS = 16;

type Cert = Record<string, any>;

export async function bootLogMutants(fx: SecurityFixtures): Promise<Mutant[]> {
  const logBytes = readEventLogFixture(FIXTURE);
  const log = parseTcgLog(logBytes);
  const base = await bootLogCertificate(fx, log.events);
  const good = parse(base) as Cert;
  const out: Mutant[] = [];
  const add = (name: string, bootLog: Buffer | undefined, expect: string[]) => {
    const c = structuredClone(good);
    if (bootLog) c.evidence.tpm.bootLog = bootLog.toString('base64');
    else delete c.evidence.tpm.bootLog;
    out.push({
      family: 'bootlog',
      name,
      bytes: serialize(c as Json),
      base,
      expect,
      options: { allowUntrustedAk: true },
    });
  };
  const offsetOf = (view: Buffer) => view.byteOffset - logBytes.byteOffset;
  const edited = (edit: (b: Buffer) => void) => {
    const copy = Buffer.from(logBytes);
    edit(copy);
    return copy;
  };
  /** Where each event starts and ends in the log (the digest and data views locate it). */
  const span = (e: TcgEvent) => {
    const firstDigest = [...e.digests.values()][0]!;
    return { start: offsetOf(firstDigest) - 12 - 2, end: offsetOf(e.data) + e.data.length };
  };

  const extending = log.events.filter((e) => e.type !== EV_NO_ACTION);
  for (let i = 0; i < DIGEST_FLIPS; i++) {
    const event = extending[Math.round((i * (extending.length - 1)) / (DIGEST_FLIPS - 1))]!;
    const at = offsetOf(event.digests.get('sha256')!) + (i % 32);
    add(
      `event ${event.seq} (PCR ${event.pcr}) sha256 digest byte ${i % 32} flipped`,
      edited((b) => {
        b[at]! ^= 1 << (i % 8);
      }),
      ['boot.eventlog'],
    );
  }
  const kernel = extending.find((e) => e.data.toString('latin1').startsWith('kernel_cmdline: '))!;
  add(
    'kernel command line rewritten (panic=-1 → panic=+1)',
    edited((b) => b.write('+', offsetOf(kernel.data) + kernel.data.indexOf('panic=-1') + 6, 'latin1')),
    ['boot.facts'],
  );
  const secureBoot = extending.find((e) => e.pcr === 7 && e.data.includes(Buffer.from('SecureBoot', 'utf16le')))!;
  add(
    'SecureBoot variable set to 01 without its digest',
    edited((b) => (b[offsetOf(secureBoot.data) + secureBoot.data.length - 1] = 1)),
    ['boot.facts'],
  );
  const separator = extending.find((e) => e.type === EV_SEPARATOR && e.pcr === 4)!;
  add(
    'a separator made an error separator (FFFFFFFF) without its digest',
    edited((b) => b.fill(0xff, offsetOf(separator.data), offsetOf(separator.data) + 4)),
    ['boot.facts'],
  );
  const grub = extending.filter((e) => e.pcr === 4)[1]!;
  add(
    `event ${grub.seq} moved from PCR 4 to PCR 5`,
    edited((b) => b.writeUInt32LE(5, span(grub).start)),
    ['boot.eventlog'],
  );
  add(
    `event ${grub.seq} retyped EV_NO_ACTION (it would extend nothing)`,
    edited((b) => b.writeUInt32LE(EV_NO_ACTION, span(grub).start + 4)),
    ['boot.eventlog'],
  );
  const { start, end } = span(grub);
  add(`event ${grub.seq} removed`, Buffer.concat([logBytes.subarray(0, start), logBytes.subarray(end)]), [
    'boot.eventlog',
  ]);
  const previous = extending.filter((e) => e.pcr === 4)[0]!;
  const p = span(previous);
  add(
    `events ${previous.seq} and ${grub.seq} of PCR 4 swapped`,
    Buffer.concat([
      logBytes.subarray(0, p.start),
      logBytes.subarray(start, end),
      logBytes.subarray(p.end, start),
      logBytes.subarray(p.start, p.end),
      logBytes.subarray(end),
    ]),
    ['boot.eventlog'],
  );
  add('the log truncated mid-event', logBytes.subarray(0, end - 3), ['bootlog.format']);
  add(
    'an event size one byte too long',
    edited((b) => b.writeUInt32LE(grub.data.length + 1, offsetOf(grub.data) - 4)),
    ['bootlog.format', 'boot.eventlog'],
  );
  add('the log removed', undefined, ['quote.selection']);
  add("another machine's log (COS on SEV)", readEventLogFixture('cos-85-amd-sev.bin'), [
    'quote.selection',
    'boot.eventlog',
  ]);
  return out;
}

/** A certified run on a fresh swtpm whose PCRs hold the log's events, carrying that log. */
async function bootLogCertificate(fx: SecurityFixtures, events: readonly TcgEvent[]): Promise<Buffer> {
  const sim = await startSimulator();
  try {
    const tpm = await Tpm.open(sim.address);
    try {
      for (const event of events)
        if (event.type !== EV_NO_ACTION)
          await tpm.pcrExtend(event.pcr, [{ hashAlg: TPM_ALG.SHA256, digest: event.digests.get('sha256')! }]);
    } finally {
      await tpm.close();
    }
    const output = join(fx.work, 'runs', 'boot-log', 'model');
    await mkdir(join(fx.work, 'runs', 'boot-log'), { recursive: true });
    const result = await certifiedRun({
      code: fx.code,
      data: [fx.data],
      output,
      certificatePath: `${output}.aicert.json`,
      tpm: sim.address,
      command: [process.execPath, '-e', TRAIN, fx.data, output],
      certifyFailure: false,
      bootLog: EVENTLOG_DIR + FIXTURE,
      log: () => undefined,
    });
    return await readFile(result.certificatePath!);
  } finally {
    await sim.stop();
  }
}
