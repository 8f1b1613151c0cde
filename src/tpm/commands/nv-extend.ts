import { TPM_CC } from '../constants.js';
import type { Authorization, TpmCommand } from '../command.js';

/** NV_Extend of an extend index, authorized by the index itself (authHandle = nvIndex). */
export function nvExtend(index: number, data: Uint8Array, authorization: Authorization): TpmCommand<void> {
  return {
    name: `NV_Extend(0x${index.toString(16)})`,
    code: TPM_CC.NV_Extend,
    handles: [index, index],
    authorizations: [authorization],
    parameters: (w) => w.tpm2b(data),
    parse: () => undefined,
  };
}
