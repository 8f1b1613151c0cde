/**
 * Where a run's events are extended: an NV extend index that only the run can write (the
 * default, `NvExtendIndex`), or an application PCR (`--register pcr23`), which anyone who reaches
 * the TPM can reset at locality 0.
 */
export type MeasurementRegister = { kind: 'nv'; index: number } | { kind: 'pcr'; pcr: number };

export function describeRegister(r: MeasurementRegister): string {
  return r.kind === 'nv' ? `NV index 0x${r.index.toString(16).padStart(8, '0')}` : `PCR ${r.pcr}`;
}
