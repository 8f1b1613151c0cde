import { TPM_CC } from '../constants.js';
import { PASSWORD, type TpmCommand } from '../command.js';

export function pcrReset(pcr: number): TpmCommand<void> {
  return {
    name: `PCR_Reset(${pcr})`,
    code: TPM_CC.PCR_Reset,
    handles: [pcr],
    authorizations: [PASSWORD],
    parse: () => undefined,
  };
}
