import { TPM_CC } from '../constants.js';
import type { TpmCommand } from '../command.js';
import { TpmReader } from '../marshal.js';
import { readNvPublic, type NvPublicArea } from '../nv-public.js';

export interface NvPublic extends NvPublicArea {
  /** The Name the TPM computed. */
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
      const area = readNvPublic(ir);
      ir.end();
      return { ...area, name };
    },
  };
}
