import { TPM_CC } from '../constants.js';
import { PASSWORD, type TpmCommand } from '../command.js';
import { parsePublic, writePublic, objectName, type PublicArea, type TpmPublic } from '../public.js';
import { TpmFormatError, marshal } from '../marshal.js';

export interface LoadedObject {
  handle: number;
  public: PublicArea;
  name: Buffer;
}

/**
 * A primary key from `template`: a TPMT_PUBLIC as a structure, or as the exact bytes a vendor
 * stored (Google Cloud keeps its AK template in NV), which are sent unchanged.
 */
export function createPrimary(
  hierarchy: number,
  template: TpmPublic | Uint8Array,
  label: string,
): TpmCommand<LoadedObject> {
  return {
    name: `CreatePrimary(${label})`,
    code: TPM_CC.CreatePrimary,
    handles: [hierarchy],
    authorizations: [PASSWORD],
    parameters: (w) => {
      // TPM2B_SENSITIVE_CREATE: empty userAuth and data.
      w.u16(4).u16(0).u16(0);
      w.tpm2b(template instanceof Uint8Array ? template : marshal((inner) => writePublic(inner, template)));
      w.u16(0); // outsideInfo
      w.u32(0); // creationPCR: no PCRs
    },
    responseHandles: 1,
    parse: (r, [handle]) => {
      const area = parsePublic(r.tpm2b('outPublic'));
      r.tpm2b('creationData');
      r.tpm2b('creationHash', 64);
      r.u16('creationTicket.tag');
      r.u32('creationTicket.hierarchy');
      r.tpm2b('creationTicket.digest', 64);
      const name = r.tpm2b('name', 66);
      if (!name.equals(objectName(area)))
        throw new TpmFormatError('CreatePrimary: returned Name does not match the returned public area');
      return { handle: handle!, public: area, name };
    },
  };
}
