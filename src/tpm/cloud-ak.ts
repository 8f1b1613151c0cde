import { EnvironmentError } from '../errors.js';
import { checkAkAttributes } from './ak-attributes.js';
import { loadAk, type LoadedAk, type VendorAkSource } from './ak-source.js';
import type { Tpm } from './client.js';
import { TPM_RH } from './constants.js';
import { TpmResponseError } from './response-code.js';

/**
 * Attestation keys that cloud vTPMs come with, certified by the vendor:
 *   Azure Trusted Launch and confidential VMs keep the AK at a persistent handle and its
 *   certificate in NV (Microsoft's "vTPM attestation key" documentation);
 *   Google Cloud Shielded VMs keep the AK's template and certificate in NV; the AK is the
 *   primary key that template makes under the endorsement hierarchy (google/go-tpm-tools,
 *   client/handles.go: GceAKTemplateNVIndexRSA and friends).
 */
export const CLOUDS = ['azure', 'gce'] as const;
export type Cloud = (typeof CLOUDS)[number];
export const CLOUD_KEY_KINDS = ['rsa', 'ecc'] as const;
export type CloudKeyKind = (typeof CLOUD_KEY_KINDS)[number];

export const AZURE_AK_HANDLE = 0x81000003;
export const AZURE_AK_CERTIFICATE_INDEX = 0x01c101d0;
export const GCE_AK_INDICES: Record<CloudKeyKind, { certificate: number; template: number }> = {
  rsa: { certificate: 0x01c10000, template: 0x01c10001 },
  ecc: { certificate: 0x01c10002, template: 0x01c10003 },
};

/** A TPMT_PUBLIC template is a few hundred bytes; an NV index holding more is not one. */
const MAX_TEMPLATE_BYTES = 1024;
/** NV certificate indices hold a few KiB at most. */
const MAX_CERTIFICATE_BYTES = 16 * 1024;

export interface CloudAk {
  cloud: Cloud;
  /** How to load the AK again for every run. */
  source: VendorAkSource;
  ak: LoadedAk;
  /** The certificate index's contents, as read (DER, possibly followed by padding). */
  certificateNv: Buffer;
  certificateIndex: number;
}

const CLOUD_NAMES: Record<Cloud, string> = { azure: 'Azure', gce: 'Google Cloud' };

/**
 * Reads the vendor AK of `cloud` and its certificate from the TPM. The AK is loaded (a
 * transient primary for Google Cloud: the caller flushes `ak.handle` when `ak.transient`).
 * Throws EnvironmentError `ak.cloud-missing` when this TPM lacks the vendor's layout, and
 * `ak.cloud-not-ak` when the vendor's key is not a restricted signing key.
 */
export async function readCloudAk(tpm: Tpm, cloud: Cloud, kind: CloudKeyKind = 'rsa'): Promise<CloudAk> {
  const where = cloud === 'azure' ? 'an Azure Trusted Launch or confidential VM' : 'a Google Cloud Shielded VM';
  const missing = (what: string) =>
    new EnvironmentError(
      'ak.cloud-missing',
      `this TPM has no ${CLOUD_NAMES[cloud]} AK ${what}: is this ${where}, and is its vTPM enabled?`,
    );
  let source: VendorAkSource;
  let certificateIndex: number;
  if (cloud === 'azure') {
    if (kind !== 'rsa') throw missing('of kind ECC (Azure provisions one RSA AK)');
    source = { kind: 'persistent', handle: AZURE_AK_HANDLE };
    certificateIndex = AZURE_AK_CERTIFICATE_INDEX;
  } else {
    const indices = GCE_AK_INDICES[kind];
    const template = await readIndex(tpm, indices.template, MAX_TEMPLATE_BYTES, () =>
      missing(`template at NV 0x${hex(indices.template)}`),
    );
    source = { kind: 'template', hierarchy: TPM_RH.ENDORSEMENT, template };
    certificateIndex = indices.certificate;
  }
  const certificateNv = await readIndex(tpm, certificateIndex, MAX_CERTIFICATE_BYTES, () =>
    missing(`certificate at NV 0x${hex(certificateIndex)}`),
  );
  let ak: LoadedAk;
  try {
    ak = await loadAk(tpm, source);
  } catch (err) {
    if (source.kind === 'persistent' && isMissingHandle(err))
      throw missing(`at persistent handle 0x${hex(AZURE_AK_HANDLE)}`);
    throw err;
  }
  try {
    checkAkAttributes(ak.public.public);
  } catch (err) {
    if (ak.transient) await tpm.flushContext(ak.handle).catch(() => undefined);
    throw new EnvironmentError(
      'ak.cloud-not-ak',
      `the ${CLOUD_NAMES[cloud]} key is not usable as an attestation key: ${(err as Error).message}`,
    );
  }
  return { cloud, source, ak, certificateNv, certificateIndex };
}

async function readIndex(tpm: Tpm, index: number, max: number, missing: () => Error): Promise<Buffer> {
  let size: number;
  try {
    size = (await tpm.nvReadPublic(index)).dataSize;
  } catch (err) {
    if (isMissingHandle(err)) throw missing();
    throw err;
  }
  if (size > max)
    throw new EnvironmentError(
      'ak.cloud-missing',
      `NV 0x${hex(index)} holds ${size} bytes, more than the ${max} expected`,
    );
  return tpm.nvRead(index);
}

/** TPM_RC_HANDLE on the first handle: nothing is defined there. */
function isMissingHandle(err: unknown): boolean {
  return err instanceof TpmResponseError && (err.responseCode & 0xbf) === 0x8b;
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
