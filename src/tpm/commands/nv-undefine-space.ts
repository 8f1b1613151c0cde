import { TPM_CC, TPM_RH } from '../constants.js';
import { PASSWORD, type TpmCommand } from '../command.js';

/** NV_UndefineSpace by the owner hierarchy (its empty password). */
export function nvUndefineSpace(index: number): TpmCommand<void> {
  return {
    name: `NV_UndefineSpace(0x${index.toString(16)})`,
    code: TPM_CC.NV_UndefineSpace,
    handles: [TPM_RH.OWNER, index],
    authorizations: [PASSWORD],
    parse: () => undefined,
  };
}
