import { TPM_ALG, TPM_CC } from '../constants.js';
import { PASSWORD, type TpmCommand } from '../command.js';
import { readRawSignature, type QuoteResult } from './quote.js';

/**
 * NV_Certify: `signHandle` signs a TPMS_ATTEST of type NV holding the index's Name and
 * `size` bytes of its contents from `offset`, over `qualifyingData`. The index is read with its
 * own (empty) password, the key with its empty password.
 */
export function nvCertify(
  signHandle: number,
  index: number,
  qualifyingData: Uint8Array,
  size: number,
  offset = 0,
): TpmCommand<QuoteResult> {
  return {
    name: `NV_Certify(0x${index.toString(16)})`,
    code: TPM_CC.NV_Certify,
    handles: [signHandle, index, index],
    authorizations: [PASSWORD, PASSWORD],
    parameters: (w) => {
      w.tpm2b(qualifyingData);
      w.u16(TPM_ALG.NULL); // the key's own scheme
      w.u16(size).u16(offset);
    },
    parse: (r) => ({ attest: r.tpm2b('certifyInfo'), signature: readRawSignature(r) }),
  };
}
