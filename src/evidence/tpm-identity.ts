import type { Tpm } from '../tpm/client.js';
import { TPM_PT, TPM_PT_PCR } from '../tpm/constants.js';
import { EK_CERTIFICATE_INDEX, readEkCertificate, type EkKind } from '../tpm/keys.js';
import { hashAlgName } from '../tpm/pcr-selection.js';
import { describeEkCertificate } from './ek-certificate.js';

/** What a TPM says about itself: the facts `aicert tpm info` shows. */
export interface TpmIdentity {
  address: string;
  manufacturer: string;
  vendor: string;
  firmwareVersion: string;
  specification: string;
  pcrBanks: Array<{ hashAlg: string; pcrs: number[] }>;
  resettablePcrs: number[];
  ekCertificates: Array<
    | { kind: EkKind; nvIndex: number; present: false }
    | {
        kind: EkKind;
        nvIndex: number;
        present: true;
        subject: string;
        issuer: string;
        notBefore: string;
        notAfter: string;
        tpmManufacturer?: string;
      }
  >;
}

/** Four ASCII characters packed big-endian in a u32, as TPM vendor properties are. */
function fourChars(value: number | undefined): string {
  if (value === undefined) return '';
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value);
  return b
    .toString('latin1')
    .replace(/[^\x20-\x7e]/g, '')
    .trim();
}

export async function readTpmIdentity(tpm: Tpm): Promise<TpmIdentity> {
  const p = await tpm.properties();
  const fw1 = p.get(TPM_PT.FIRMWARE_VERSION_1) ?? 0;
  const fw2 = p.get(TPM_PT.FIRMWARE_VERSION_2) ?? 0;
  const revision = p.get(TPM_PT.REVISION) ?? 0;
  const ekCertificates: TpmIdentity['ekCertificates'] = [];
  for (const kind of ['rsa', 'ecc'] as const) {
    const nvIndex = EK_CERTIFICATE_INDEX[kind];
    const raw = await readEkCertificate(tpm, kind);
    if (!raw) {
      ekCertificates.push({ kind, nvIndex, present: false });
      continue;
    }
    const cert = describeEkCertificate(raw);
    ekCertificates.push({
      kind,
      nvIndex,
      present: true,
      subject: cert.subject,
      issuer: cert.issuer,
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      ...(cert.tpmManufacturer && { tpmManufacturer: cert.tpmManufacturer }),
    });
  }
  const pcrProps = await tpm.pcrProperties();
  return {
    address: tpm.description,
    manufacturer: fourChars(p.get(TPM_PT.MANUFACTURER)),
    vendor: [TPM_PT.VENDOR_STRING_1, TPM_PT.VENDOR_STRING_2, TPM_PT.VENDOR_STRING_3, TPM_PT.VENDOR_STRING_4]
      .map((k) => fourChars(p.get(k)))
      .join(''),
    firmwareVersion: `${fw1 >>> 16}.${fw1 & 0xffff}.${fw2 >>> 16}.${fw2 & 0xffff}`,
    specification: `TPM 2.0 level ${p.get(TPM_PT.LEVEL) ?? '?'} revision ${(revision / 100).toFixed(2)} (${p.get(TPM_PT.YEAR) ?? '?'}, day ${p.get(TPM_PT.DAY_OF_YEAR) ?? '?'})`,
    pcrBanks: (await tpm.pcrBanks()).map((b) => ({ hashAlg: hashAlgName(b.hashAlg), pcrs: b.pcrs })),
    resettablePcrs: pcrProps.get(TPM_PT_PCR.RESET_L0) ?? [],
    ekCertificates,
  };
}
