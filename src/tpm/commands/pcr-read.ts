import { HASH_ALGS, TPM_CC } from '../constants.js';
import type { TpmCommand } from '../command.js';
import { TpmFormatError } from '../marshal.js';
import { readPcrSelections, writePcrSelections, type PcrSelection } from '../pcr-selection.js';

export interface PcrReadResult {
  updateCounter: number;
  /** What the TPM actually returned: a TPM answers at most 8 digests per call. */
  selection: PcrSelection[];
  digests: Buffer[];
}

export function pcrRead(selections: PcrSelection[]): TpmCommand<PcrReadResult> {
  return {
    name: `PCR_Read(${selections.map((s) => s.pcrs.join(',')).join(';')})`,
    code: TPM_CC.PCR_Read,
    parameters: (w) => writePcrSelections(w, selections),
    parse: (r) => {
      const updateCounter = r.u32('pcrUpdateCounter');
      const selection = readPcrSelections(r);
      const n = r.u32('TPML_DIGEST.count');
      if (n > 8) throw new TpmFormatError(`PCR_Read returned ${n} digests, more than 8`);
      const digests: Buffer[] = [];
      for (let i = 0; i < n; i++) digests.push(r.tpm2b('digest', 64));
      const selected = selection.reduce((sum, s) => sum + s.pcrs.length, 0);
      if (selected !== n) throw new TpmFormatError(`PCR_Read returned ${n} digests for ${selected} selected PCRs`);
      let i = 0;
      for (const s of selection) {
        const size = HASH_ALGS[s.hashAlg]?.size;
        for (const pcr of s.pcrs) {
          if (size !== undefined && digests[i]!.length !== size) {
            throw new TpmFormatError(`PCR_Read: PCR ${pcr} digest has ${digests[i]!.length} bytes, expected ${size}`);
          }
          i++;
        }
      }
      return { updateCounter, selection, digests };
    },
  };
}
