import { TPM_CC } from '../constants.js';
import type { TpmCommand } from '../command.js';

/**
 * PolicySigned: `authObject` (a loaded public key) vouches, by `signature` (TPMT_SIGNATURE
 * bytes) over H(nonceTPM ‖ expiration ‖ cpHashA ‖ policyRef), for this policy session.
 */
export function policySigned(
  authObject: number,
  policySession: number,
  a: { nonceTpm: Uint8Array; cpHashA: Uint8Array; policyRef: Uint8Array; expiration: number; signature: Uint8Array },
): TpmCommand<void> {
  return {
    name: 'PolicySigned',
    code: TPM_CC.PolicySigned,
    handles: [authObject, policySession],
    parameters: (w) => {
      w.tpm2b(a.nonceTpm).tpm2b(a.cpHashA).tpm2b(a.policyRef).u32(a.expiration).bytes(a.signature);
    },
    parse: (r) => {
      r.tpm2b('timeout');
      r.u16('policyTicket.tag');
      r.u32('policyTicket.hierarchy');
      r.tpm2b('policyTicket.digest', 64);
    },
  };
}
