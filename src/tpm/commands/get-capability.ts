import { TPM_CAP, TPM_CC } from '../constants.js';
import type { TpmCommand } from '../command.js';
import { TpmFormatError, type TpmReader } from '../marshal.js';
import { readPcrSelections, type PcrSelection } from '../pcr-selection.js';

/** A capability answer: the data parsed by capability kind, and whether the TPM has more. */
export type CapabilityData =
  | { capability: typeof TPM_CAP.TPM_PROPERTIES; properties: Map<number, number> }
  | { capability: typeof TPM_CAP.PCRS; banks: PcrSelection[] }
  | { capability: typeof TPM_CAP.PCR_PROPERTIES; pcrProperties: Map<number, number[]> }
  | { capability: typeof TPM_CAP.HANDLES; handles: number[] };

const MAX_ITEMS = 1024;

function count(r: TpmReader, what: string): number {
  const n = r.u32(`${what}.count`);
  if (n > MAX_ITEMS) throw new TpmFormatError(`GetCapability: ${what} claims ${n} items, over ${MAX_ITEMS}`);
  return n;
}

export function getCapability(
  capability: number,
  property: number,
  propertyCount: number,
): TpmCommand<{ moreData: boolean; data: CapabilityData }> {
  return {
    name: `GetCapability(0x${capability.toString(16)}, 0x${property.toString(16)})`,
    code: TPM_CC.GetCapability,
    parameters: (w) => w.u32(capability).u32(property).u32(propertyCount),
    parse: (r) => {
      const moreData = r.u8('moreData') !== 0;
      const cap = r.u32('capability');
      if (cap !== capability) throw new TpmFormatError(`GetCapability answered capability ${cap}, asked ${capability}`);
      switch (cap) {
        case TPM_CAP.TPM_PROPERTIES: {
          const properties = new Map<number, number>();
          for (let i = count(r, 'TPML_TAGGED_TPM_PROPERTY'); i > 0; i--)
            properties.set(r.u32('property'), r.u32('value'));
          return { moreData, data: { capability: cap, properties } };
        }
        case TPM_CAP.PCRS:
          return { moreData, data: { capability: cap, banks: readPcrSelections(r) } };
        case TPM_CAP.PCR_PROPERTIES: {
          const pcrProperties = new Map<number, number[]>();
          for (let i = count(r, 'TPML_TAGGED_PCR_PROPERTY'); i > 0; i--) {
            const tag = r.u32('tag');
            const size = r.u8('sizeofSelect');
            const bitmap = r.bytesView(size, 'pcrSelect');
            const pcrs: number[] = [];
            for (let bit = 0; bit < size * 8; bit++) if (bitmap[bit >> 3]! & (1 << (bit & 7))) pcrs.push(bit);
            pcrProperties.set(tag, pcrs);
          }
          return { moreData, data: { capability: cap, pcrProperties } };
        }
        case TPM_CAP.HANDLES: {
          const handles: number[] = [];
          for (let i = count(r, 'TPML_HANDLE'); i > 0; i--) handles.push(r.u32('handle'));
          return { moreData, data: { capability: cap, handles } };
        }
        default:
          throw new TpmFormatError(`GetCapability: capability 0x${cap.toString(16)} is not supported by aicert`);
      }
    },
  };
}
