import { TPM_CC, TPM_RH } from '../constants.js';
import { PASSWORD, type TpmCommand } from '../command.js';
import { marshalNvPublic, type NvPublicArea } from '../nv-public.js';

/** NV_DefineSpace under the owner hierarchy (its empty password), with the index's own authValue. */
export function nvDefineSpace(area: NvPublicArea, authValue: Uint8Array = Buffer.alloc(0)): TpmCommand<void> {
  return {
    name: `NV_DefineSpace(0x${area.index.toString(16)})`,
    code: TPM_CC.NV_DefineSpace,
    handles: [TPM_RH.OWNER],
    authorizations: [PASSWORD],
    parameters: (w) => {
      w.tpm2b(authValue);
      w.tpm2b(marshalNvPublic(area));
    },
    parse: () => undefined,
  };
}
