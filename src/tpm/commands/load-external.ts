import { TPM_CC, TPM_RH } from '../constants.js';
import type { TpmCommand } from '../command.js';
import { marshalPublic, type TpmPublic } from '../public.js';

/** LoadExternal of a public key only (no sensitive part) into the null hierarchy. */
export function loadExternalPublic(key: TpmPublic): TpmCommand<{ handle: number; name: Buffer }> {
  return {
    name: 'LoadExternal',
    code: TPM_CC.LoadExternal,
    parameters: (w) => {
      w.u16(0); // inPrivate: none
      w.tpm2b(marshalPublic(key));
      w.u32(TPM_RH.NULL);
    },
    responseHandles: 1,
    parse: (r, [handle]) => ({ handle: handle!, name: r.tpm2b('name', 66) }),
  };
}
