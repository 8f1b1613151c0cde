import { TPM_CC } from '../constants.js';
import { PASSWORD, type TpmCommand } from '../command.js';
import { TpmFormatError } from '../marshal.js';

/**
 * One chunk of an NV index, authorized with an empty password by the index itself (the
 * default) or by the owner hierarchy (`authHandle` TPM_RH_OWNER, for OWNERREAD indices such as
 * the cloud vendors' AK certificates).
 */
export function nvRead(index: number, size: number, offset: number, authHandle: number = index): TpmCommand<Buffer> {
  return {
    name: `NV_Read(0x${index.toString(16)}, ${offset}+${size})`,
    code: TPM_CC.NV_Read,
    handles: [authHandle, index],
    authorizations: [PASSWORD],
    parameters: (w) => w.u16(size).u16(offset),
    parse: (r) => {
      const data = r.tpm2b('data');
      if (data.length !== size) throw new TpmFormatError(`NV_Read returned ${data.length} bytes, asked for ${size}`);
      return data;
    },
  };
}
