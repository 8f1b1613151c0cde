import { TPM_CC } from '../constants.js';
import { PASSWORD, type TpmCommand } from '../command.js';

export interface TaggedDigest {
  hashAlg: number;
  digest: Uint8Array;
}

export function pcrExtend(pcr: number, digests: TaggedDigest[]): TpmCommand<void> {
  return {
    name: `PCR_Extend(${pcr})`,
    code: TPM_CC.PCR_Extend,
    handles: [pcr],
    authorizations: [PASSWORD],
    parameters: (w) => {
      w.u32(digests.length);
      for (const d of digests) w.u16(d.hashAlg).bytes(d.digest);
    },
    parse: () => undefined,
  };
}
