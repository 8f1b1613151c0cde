import { TPM_ALG, TPM_CC } from '../constants.js';
import { PASSWORD, type TpmCommand } from '../command.js';
import type { TpmReader } from '../marshal.js';
import { writePcrSelections, type PcrSelection } from '../pcr-selection.js';

export interface QuoteResult {
  /** TPMS_ATTEST bytes (the signed message). */
  attest: Buffer;
  /** TPMT_SIGNATURE bytes, kept raw: the verifier parses them. */
  signature: Buffer;
}

export function quote(
  signHandle: number,
  qualifyingData: Uint8Array,
  selections: PcrSelection[],
): TpmCommand<QuoteResult> {
  return {
    name: 'Quote',
    code: TPM_CC.Quote,
    handles: [signHandle],
    authorizations: [PASSWORD],
    parameters: (w) => {
      w.tpm2b(qualifyingData);
      w.u16(TPM_ALG.NULL); // the key's own scheme
      writePcrSelections(w, selections);
    },
    parse: (r) => ({ attest: r.tpm2b('quoted'), signature: readRawSignature(r) }),
  };
}

/** A TPMT_SIGNATURE of a response, kept raw (the verifier parses it). */
export function readRawSignature(r: TpmReader): Buffer {
  const start = r.position;
  const sigAlg = r.u16('signature.sigAlg');
  if (sigAlg === TPM_ALG.ECDSA) {
    r.u16('hash');
    r.tpm2b('signatureR', 66);
    r.tpm2b('signatureS', 66);
  } else {
    r.u16('hash');
    r.tpm2b('sig', 512);
  }
  return r.consumedSince(start);
}
