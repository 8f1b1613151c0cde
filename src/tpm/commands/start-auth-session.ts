import { TPM_ALG, TPM_CC, TPM_RH } from '../constants.js';
import type { TpmCommand } from '../command.js';

/** An unbound, unsalted session (policy or trial) with SHA-256 and no parameter encryption. */
export function startAuthSession(
  sessionType: number,
  nonceCaller: Uint8Array,
): TpmCommand<{ handle: number; nonceTpm: Buffer }> {
  return {
    name: 'StartAuthSession',
    code: TPM_CC.StartAuthSession,
    handles: [TPM_RH.NULL, TPM_RH.NULL],
    parameters: (w) => {
      w.tpm2b(nonceCaller);
      w.u16(0); // encryptedSalt
      w.u8(sessionType);
      w.u16(TPM_ALG.NULL); // symmetric
      w.u16(TPM_ALG.SHA256); // authHash
    },
    responseHandles: 1,
    parse: (r, [handle]) => ({ handle: handle!, nonceTpm: r.tpm2b('nonceTPM', 64) }),
  };
}
