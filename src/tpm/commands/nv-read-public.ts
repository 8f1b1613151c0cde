import { TPM_CC } from '../constants.js';
import type { TpmCommand } from '../command.js';
import { TpmReader } from '../marshal.js';

export interface NvPublic {
  index: number;
  nameAlg: number;
  attributes: number;
  authPolicy: Buffer;
  dataSize: number;
  name: Buffer;
}

export function nvReadPublic(index: number): TpmCommand<NvPublic> {
  return {
    name: `NV_ReadPublic(0x${index.toString(16)})`,
    code: TPM_CC.NV_ReadPublic,
    handles: [index],
    parse: (r) => {
      const inner = r.tpm2b('nvPublic');
      const name = r.tpm2b('nvName', 66);
      const ir = new TpmReader(inner, 'TPMS_NV_PUBLIC');
      const result = {
        index: ir.u32('nvIndex'),
        nameAlg: ir.u16('nameAlg'),
        attributes: ir.u32('attributes'),
        authPolicy: ir.tpm2b('authPolicy', 64),
        dataSize: ir.u16('dataSize'),
        name,
      };
      ir.end();
      return result;
    },
  };
}
