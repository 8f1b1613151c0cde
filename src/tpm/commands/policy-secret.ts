import { TPM_CC } from '../constants.js';
import { PASSWORD, type TpmCommand } from '../command.js';

/** PolicySecret(authHandle) with the authHandle's (empty) password: how the EK policy is met. */
export function policySecret(authHandle: number, policySession: number): TpmCommand<void> {
  return {
    name: `PolicySecret(0x${authHandle.toString(16)})`,
    code: TPM_CC.PolicySecret,
    handles: [authHandle, policySession],
    authorizations: [PASSWORD],
    parameters: (w) => {
      w.u16(0); // nonceTPM
      w.u16(0); // cpHashA
      w.u16(0); // policyRef
      w.u32(0); // expiration
    },
    parse: (r) => {
      r.tpm2b('timeout');
      r.u16('policyTicket.tag');
      r.u32('policyTicket.hierarchy');
      r.tpm2b('policyTicket.digest', 64);
    },
  };
}
