/**
 * Mutants of a certificate made with the default register, an NV extend index: the NV public
 * area and both NV_Certify attestations bit-flipped, swapped, taken from another run or TPM,
 * replaced by quotes; the register claims edited. Each is rejected at a named check.
 */
import { TPMA_NV } from '../../src/tpm/constants.js';
import { parse, serialize, type Json, type Mutant } from './tamper-corpus.js';
import type { SecurityFixtures } from './swtpm-fixtures.js';

type Cert = Record<string, any>;
const FLIPS_PER_BLOB = 16;

export function nvMutants(fx: SecurityFixtures): Mutant[] {
  const base = fx.nvGood.bytes;
  const good = parse(base) as Cert;
  const other = parse(fx.nvOther.bytes) as Cert;
  const pcrRun = parse(fx.good.bytes) as Cert;
  const out: Mutant[] = [];
  const add = (name: string, edit: (c: Cert) => void, expect: string[]) => {
    const c = structuredClone(good);
    edit(c);
    out.push({ family: 'nv', name, bytes: serialize(c as Json), base, expect });
  };
  const nv = (c: Cert) => c.evidence.tpm.nv;

  // A flipped bit of the public area changes its Name or makes it something other than the run's extend index.
  const blobs: Array<[string, (c: Cert) => Cert, string, string[]]> = [
    ['nv.public', (c) => nv(c), 'public', ['register', 'nv.name']],
    ['start certification attest', (c) => nv(c).certifications[0], 'attest', ['nv.signature']],
    ['start certification signature', (c) => nv(c).certifications[0], 'signature', ['nv.signature', 'nv.start']],
    ['end certification attest', (c) => nv(c).certifications[1], 'attest', ['nv.signature']],
    ['end certification signature', (c) => nv(c).certifications[1], 'signature', ['nv.signature', 'nv.end']],
  ];
  for (const [what, holder, field, expect] of blobs) {
    const bytes = Buffer.from(holder(good)[field], 'base64');
    const positions = new Set(
      Array.from({ length: FLIPS_PER_BLOB }, (_, i) => Math.round((i * (bytes.length - 1)) / (FLIPS_PER_BLOB - 1))),
    );
    for (const position of positions) {
      const flipped = Buffer.from(bytes);
      flipped[position]! ^= 1 << (position % 8);
      add(
        `${what}: byte ${position} bit ${position % 8}`,
        (c) => (holder(c)[field] = flipped.toString('base64')),
        expect,
      );
    }
  }

  const [start, end] = nv(good).certifications;
  add(
    'certifications swapped with their phases',
    (c) =>
      (nv(c).certifications = [
        { ...end, phase: 'start' },
        { ...start, phase: 'end' },
      ]),
    ['nv.binding'],
  );
  add('certifications swapped, phases kept', (c) => (nv(c).certifications = [end, start]), ['bundle.schema']);
  add("another run's start certification", (c) => (nv(c).certifications[0] = nv(other).certifications[0]), [
    'nv.binding',
  ]);
  add("another run's end certification", (c) => (nv(c).certifications[1] = nv(other).certifications[1]), [
    'nv.binding',
  ]);
  add("another run's NV public area", (c) => (nv(c).public = nv(other).public), ['nv.name']);
  add("another run's NV public area and certifications", (c) => (c.evidence.tpm.nv = nv(other)), ['nv.binding']);
  const quoteAs = (i: 0 | 1) => ({
    phase: i === 0 ? 'start' : 'end',
    attest: good.evidence.tpm.quotes[i].attest,
    signature: good.evidence.tpm.quotes[i].signature,
  });
  add('the start quote in place of the start certification', (c) => (nv(c).certifications[0] = quoteAs(0)), [
    'nv.type',
  ]);
  add('the end quote in place of the end certification', (c) => (nv(c).certifications[1] = quoteAs(1)), ['nv.type']);
  add('only one certification', (c) => (nv(c).certifications = [start]), ['bundle.schema']);

  const publicBytes = Buffer.from(nv(good).public, 'base64');
  const withAttributes = (bits: number) => {
    const p = Buffer.from(publicBytes);
    p.writeUInt32BE((p.readUInt32BE(6) | bits) >>> 0, 6);
    return p.toString('base64');
  };
  for (const [bit, name] of [
    [TPMA_NV.AUTHWRITE, 'AUTHWRITE (writable with a password)'],
    [TPMA_NV.OWNERWRITE, 'OWNERWRITE (writable by the owner)'],
    [0x08000000, 'CLEAR_STCLEAR (zeroed at every TPM Restart)'],
  ] as const)
    add(`the NV public area claims ${name}`, (c) => (nv(c).public = withAttributes(bit)), ['register']);

  add(
    'the NV register removed, PCR 23 claimed instead',
    (c) => {
      delete c.evidence.tpm.nv;
      c.evidence.tpm.pcr = 23;
    },
    ['quote.selection'],
  );
  add('both an NV register and a PCR', (c) => (c.evidence.tpm.pcr = 23), ['bundle.schema']);
  add('neither an NV register nor a PCR', (c) => delete c.evidence.tpm.nv, ['bundle.schema']);
  add(
    'every record moved to PCR 23',
    (c) => {
      for (const r of c.evidence.tpm.eventLog) {
        delete r.nv_index;
        r.pcr = 23;
      }
    },
    ['eventlog.sequence'],
  );
  add('a record naming both its NV index and PCR 23', (c) => (c.evidence.tpm.eventLog[1].pcr = 23), ['bundle.schema']);
  add('a record on another NV index', (c) => (c.evidence.tpm.eventLog[2].nv_index ^= 1), ['eventlog.sequence']);
  add("a PCR run's event log with the NV evidence", (c) => (c.evidence.tpm.eventLog = pcrRun.evidence.tpm.eventLog), [
    'quote.binding',
  ]);
  return out;
}
