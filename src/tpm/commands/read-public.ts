import { TPM_CC } from '../constants.js';
import type { TpmCommand } from '../command.js';
import { parsePublic, objectName, type PublicArea } from '../public.js';
import { TpmFormatError } from '../marshal.js';

export function readPublic(handle: number): TpmCommand<{ public: PublicArea; name: Buffer; qualifiedName: Buffer }> {
  return {
    name: `ReadPublic(0x${handle.toString(16)})`,
    code: TPM_CC.ReadPublic,
    handles: [handle],
    parse: (r) => {
      const area = parsePublic(r.tpm2b('outPublic'));
      const name = r.tpm2b('name', 66);
      const qualifiedName = r.tpm2b('qualifiedName', 66);
      if (!name.equals(objectName(area)))
        throw new TpmFormatError('ReadPublic: returned Name does not match the returned public area');
      return { public: area, name, qualifiedName };
    },
  };
}
