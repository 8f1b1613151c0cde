import { TPM_CC, TPM_SU } from '../constants.js';
import type { TpmCommand } from '../command.js';

export function startup(type: number = TPM_SU.CLEAR): TpmCommand<void> {
  return {
    name: `Startup(${type === TPM_SU.CLEAR ? 'CLEAR' : 'STATE'})`,
    code: TPM_CC.Startup,
    parameters: (w) => w.u16(type),
    parse: () => undefined,
  };
}
