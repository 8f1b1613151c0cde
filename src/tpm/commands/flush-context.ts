import { TPM_CC } from '../constants.js';
import type { TpmCommand } from '../command.js';

export function flushContext(handle: number): TpmCommand<void> {
  return {
    name: `FlushContext(0x${handle.toString(16)})`,
    code: TPM_CC.FlushContext,
    // The handle is a parameter here, not in the handle area (Part 3, 28.4).
    parameters: (w) => w.u32(handle),
    parse: () => undefined,
  };
}
