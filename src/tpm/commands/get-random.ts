import { TPM_CC } from '../constants.js';
import type { TpmCommand } from '../command.js';

export function getRandom(bytesRequested: number): TpmCommand<Buffer> {
  return {
    name: `GetRandom(${bytesRequested})`,
    code: TPM_CC.GetRandom,
    parameters: (w) => w.u16(bytesRequested),
    parse: (r) => r.tpm2b('randomBytes', 64),
  };
}
