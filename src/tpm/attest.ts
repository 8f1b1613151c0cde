import { TPM_ST } from './constants.js';
import { TpmFormatError, TpmReader } from './marshal.js';
import { readPcrSelections, type PcrSelection } from './pcr-selection.js';

/**
 * TPMS_ATTEST, the structure a TPM signs (TPM 2.0 Library Part 2, 10.12.12).
 *
 * The parser only reads: it does not judge `magic` or `type` (that is the verifier's job, so a
 * wrong value is reported as a failed check rather than as unreadable bytes). The body is
 * interpreted for quotes and NV certifications; for any other attestation type the header is
 * returned and the body is left unread as `unsupported`.
 */
export interface ClockInfo {
  /** Milliseconds the TPM has been powered since its last TPM2_Clear (monotonic, u64). */
  clock: bigint;
  /** TPM resets (power cycles / Startup(CLEAR)) since the last TPM2_Clear. */
  resetCount: number;
  /** TPM restarts or resumes (Startup(STATE)) since the last reset. */
  restartCount: number;
  /** False when the clock may have gone backwards since it was last reported. */
  safe: boolean;
}

export interface QuoteInfo {
  pcrSelect: PcrSelection[];
  pcrDigest: Buffer;
}

export interface AttestHeader {
  magic: number;
  type: number;
  /** Qualified Name of the signing key: not its plain Name, so never compare it with one. */
  qualifiedSigner: Buffer;
  /** The caller's qualifying data (the nonce). */
  extraData: Buffer;
  clockInfo: ClockInfo;
  firmwareVersion: bigint;
}

/** TPMS_NV_CERTIFY_INFO: the index's Name and the certified bytes of its contents. */
export interface NvCertifyInfo {
  indexName: Buffer;
  offset: number;
  nvContents: Buffer;
}

export type Attest =
  | (AttestHeader & { body: 'quote'; quote: QuoteInfo })
  | (AttestHeader & { body: 'nv'; nv: NvCertifyInfo })
  | (AttestHeader & { body: 'unsupported' });

/** TPM2B_NAME holds at most a TPMU_NAME: an algorithm id and a SHA-512 digest. */
const MAX_NAME = 2 + 64;
/** TPM2B_DATA holds at most a TPMT_HA. */
const MAX_DATA = 2 + 64;
/** TPM2B_DIGEST holds at most a SHA-512 digest. */
const MAX_DIGEST = 64;
/** TPM2B_MAX_NV_BUFFER: MAX_NV_BUFFER_SIZE is 1024 on common TPMs; 2048 bounds any. */
const MAX_NV_BUFFER = 2048;

/** Parses a TPMS_ATTEST (the bytes inside TPM2B_ATTEST, without its size). */
export function parseAttest(bytes: Uint8Array): Attest {
  const r = new TpmReader(bytes, 'TPMS_ATTEST');
  const header: AttestHeader = {
    magic: r.u32('magic'),
    type: r.u16('type'),
    qualifiedSigner: r.tpm2b('qualifiedSigner', MAX_NAME),
    extraData: r.tpm2b('extraData', MAX_DATA),
    clockInfo: {
      clock: r.u64('clockInfo.clock'),
      resetCount: r.u32('clockInfo.resetCount'),
      restartCount: r.u32('clockInfo.restartCount'),
      safe: readYesNo(r, 'clockInfo.safe'),
    },
    firmwareVersion: r.u64('firmwareVersion'),
  };
  if (header.type === TPM_ST.ATTEST_NV) {
    const nv: NvCertifyInfo = {
      indexName: r.tpm2b('nv.indexName', MAX_NAME),
      offset: r.u16('nv.offset'),
      nvContents: r.tpm2b('nv.nvContents', MAX_NV_BUFFER),
    };
    r.end();
    return { ...header, body: 'nv', nv };
  }
  if (header.type !== TPM_ST.ATTEST_QUOTE) return { ...header, body: 'unsupported' };
  const quote: QuoteInfo = {
    pcrSelect: readPcrSelections(r),
    pcrDigest: r.tpm2b('pcrDigest', MAX_DIGEST),
  };
  r.end();
  return { ...header, body: 'quote', quote };
}

/** TPMI_YES_NO: exactly 0 or 1. */
function readYesNo(r: TpmReader, field: string): boolean {
  const at = r.position;
  const v = r.u8(field);
  if (v > 1) throw new TpmFormatError(`TPMS_ATTEST: ${field} is ${v} at offset ${at}, expected 0 or 1`);
  return v === 1;
}

/** Names of the attestation types, for messages. */
export function attestTypeName(type: number): string {
  const names: Record<number, string> = {
    [TPM_ST.ATTEST_NV]: 'NV',
    0x8015: 'command audit',
    0x8016: 'session audit',
    0x8017: 'certify',
    [TPM_ST.ATTEST_QUOTE]: 'quote',
    0x8019: 'time',
    [TPM_ST.ATTEST_CREATION]: 'creation',
    0x801c: 'NV digest',
  };
  return names[type] ?? `0x${type.toString(16).padStart(4, '0')}`;
}
