import { EnvironmentError, InputError } from '../errors.js';
import { extractEkCertificateDer } from '../evidence/ek-certificate.js';
import {
  certificatePublicKey,
  describeCertificate,
  parseCertificateDer,
  type ParsedCertificate,
} from '../pki/x509-path.js';
import type { Tpm } from '../tpm/client.js';
import { readCloudAk, type Cloud, type CloudKeyKind } from '../tpm/cloud-ak.js';
import { publicKeyObject } from '../tpm/public.js';
import { storeAkCertificateChain } from './ak-store.js';
import { storeAkSelection } from './ak-selection.js';

export interface UseCloudAkOptions {
  tpm: Tpm;
  cloud: Cloud;
  kind?: CloudKeyKind;
  /** The vendor's intermediate CA certificates, stored after the AK certificate (the NV holds only the leaf). */
  intermediates?: ParsedCertificate[];
}

export interface UsedCloudAk {
  akName: Buffer;
  certificate: ParsedCertificate;
  chainPath: string;
  selectionPath: string;
}

/**
 * `aicert ak use --cloud`: reads the vendor AK and its certificate, checks that the certificate
 * certifies this very key, stores the chain under the AK's Name (like an enrolled AK's) and
 * records the AK as the one runs use. Whether the vendor's CA is trusted is the verifier's
 * decision (`aicert verify --trust`), not made here. Nothing is stored unless every step passed.
 */
export async function useCloudAk(options: UseCloudAkOptions): Promise<UsedCloudAk> {
  const { tpm, cloud } = options;
  const kind = options.kind ?? 'rsa';
  const found = await readCloudAk(tpm, cloud, kind);
  if (found.ak.transient) await tpm.flushContext(found.ak.handle);
  const where = `the ${cloud} AK certificate at NV 0x${found.certificateIndex.toString(16)}`;
  let certificate: ParsedCertificate;
  try {
    certificate = parseCertificateDer(extractEkCertificateDer(found.certificateNv), where);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    throw new EnvironmentError(
      'ak.cloud-certificate',
      `${where} is unreadable: ${err.message.replace(/^EK certificate: /, '')}`,
    );
  }
  if (!certificatePublicKey(certificate).equals(publicKeyObject(found.ak.public.public))) {
    throw new EnvironmentError(
      'ak.cloud-certificate',
      `${where} (${describeCertificate(certificate)}) certifies a different key than the ${cloud} AK`,
    );
  }
  const chain = [certificate, ...(options.intermediates ?? [])];
  const chainPath = await storeAkCertificateChain(found.ak.name, chain.map((c) => c.node.toString()).join(''));
  const selectionPath = await storeAkSelection({
    cloud,
    kind,
    name: found.ak.name,
    source: found.source,
  });
  return { akName: found.ak.name, certificate, chainPath, selectionPath };
}
