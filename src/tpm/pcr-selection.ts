import { HASH_ALGS } from './constants.js';
import { TpmFormatError, type TpmReader, type TpmWriter } from './marshal.js';

/** One bank's PCR selection: a hash algorithm and the PCR indices, ascending. */
/** PCR values by bank: hash algorithm (TPM_ALG id) → PCR index → value. */
export type PcrValues = Map<number, Map<number, Buffer>>;

export interface PcrSelection {
  hashAlg: number;
  pcrs: number[];
}

/** PCR indices go up to 23 on PC-client TPMs; the select bitmap is 3 bytes. */
const SELECT_SIZE = 3;
const MAX_BANKS = 16;

export function writePcrSelections(w: TpmWriter, selections: PcrSelection[]): void {
  w.u32(selections.length);
  for (const s of selections) {
    const bitmap = Buffer.alloc(SELECT_SIZE);
    for (const pcr of s.pcrs) {
      if (!Number.isInteger(pcr) || pcr < 0 || pcr >= SELECT_SIZE * 8)
        throw new RangeError(`PCR index ${pcr} is out of range 0-23`);
      bitmap[pcr >> 3]! |= 1 << (pcr & 7);
    }
    w.u16(s.hashAlg).u8(SELECT_SIZE).bytes(bitmap);
  }
}

export function readPcrSelections(r: TpmReader): PcrSelection[] {
  const count = r.u32('TPML_PCR_SELECTION.count');
  if (count > MAX_BANKS) throw new TpmFormatError(`TPML_PCR_SELECTION has ${count} banks, more than ${MAX_BANKS}`);
  const out: PcrSelection[] = [];
  for (let i = 0; i < count; i++) {
    const hashAlg = r.u16('TPMS_PCR_SELECTION.hash');
    const size = r.u8('TPMS_PCR_SELECTION.sizeofSelect');
    if (size > 4) throw new TpmFormatError(`TPMS_PCR_SELECTION.sizeofSelect ${size} is over 4`);
    const bitmap = r.bytesView(size, 'TPMS_PCR_SELECTION.pcrSelect');
    const pcrs: number[] = [];
    for (let bit = 0; bit < size * 8; bit++) if (bitmap[bit >> 3]! & (1 << (bit & 7))) pcrs.push(bit);
    out.push({ hashAlg, pcrs });
  }
  return out;
}

/** Parses a PCR list such as "0-7,23" into sorted unique indices. */
export function parsePcrList(text: string): number[] {
  const set = new Set<number>();
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new RangeError(`bad PCR list element "${part}" (expected N or N-M, e.g. 0-7,23)`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo > hi || hi > 23) throw new RangeError(`bad PCR range "${part}" (PCRs are 0-23)`);
    for (let i = lo; i <= hi; i++) set.add(i);
  }
  if (set.size === 0) throw new RangeError('empty PCR list');
  return [...set].sort((a, b) => a - b);
}

export function selectionsEqual(a: PcrSelection[], b: PcrSelection[]): boolean {
  return (
    a.length === b.length &&
    a.every(
      (s, i) =>
        s.hashAlg === b[i]!.hashAlg &&
        s.pcrs.length === b[i]!.pcrs.length &&
        s.pcrs.every((p, j) => p === b[i]!.pcrs[j]),
    )
  );
}

export function hashAlgName(alg: number): string {
  return HASH_ALGS[alg]?.name ?? `0x${alg.toString(16).padStart(4, '0')}`;
}
