import type { Tpm } from './client.js';
import { TPM_RH } from './constants.js';
import type { LoadedObject } from './commands/create-primary.js';
import { AK_TEMPLATE } from './keys.js';

/**
 * Where the attestation key of a run comes from:
 *   aicert     — aicert's own AK, a primary from AK_TEMPLATE (nothing stored, the default);
 *   persistent — a key the TPM keeps at a persistent handle (Azure's vTPM AK at 0x81000003);
 *   template   — a primary recreated from a template given as exact TPMT_PUBLIC bytes (Google
 *                Cloud's AK, whose template the vTPM holds in NV).
 */
export type AkSource =
  | { kind: 'aicert' }
  | { kind: 'persistent'; handle: number }
  | { kind: 'template'; hierarchy: number; template: Buffer };

export const AICERT_AK: AkSource = { kind: 'aicert' };

/** A key a vendor provisioned (`aicert ak use --cloud`). */
export type VendorAkSource = Exclude<AkSource, { kind: 'aicert' }>;

export interface LoadedAk extends LoadedObject {
  /** A transient handle is flushed after use; a persistent one stays where the vendor put it. */
  transient: boolean;
}

/** Makes the AK of `source` usable: creates the primary, or reads the persistent key's public area. */
export async function loadAk(tpm: Tpm, source: AkSource = AICERT_AK): Promise<LoadedAk> {
  switch (source.kind) {
    case 'aicert':
      return { ...(await tpm.createPrimary(TPM_RH.ENDORSEMENT, AK_TEMPLATE, 'aicert AK')), transient: true };
    case 'template':
      return { ...(await tpm.createPrimary(source.hierarchy, source.template, 'vendor AK')), transient: true };
    case 'persistent': {
      const { public: area, name } = await tpm.readPublic(source.handle);
      return { handle: source.handle, public: area, name, transient: false };
    }
  }
}

/** Runs `use` with the AK of `source` loaded, and flushes it afterwards if it is transient. */
export async function withAk<T>(tpm: Tpm, source: AkSource, use: (ak: LoadedAk) => Promise<T>): Promise<T> {
  const ak = await loadAk(tpm, source);
  if (!ak.transient) return use(ak);
  return tpm.withTransient(ak.handle, () => use(ak));
}

export function describeAkSource(source: AkSource): string {
  switch (source.kind) {
    case 'aicert':
      return "aicert's AK (a primary key from aicert's template)";
    case 'persistent':
      return `the persistent key at 0x${source.handle.toString(16)}`;
    case 'template':
      return 'a primary key from a vendor template';
  }
}
