import { VerificationError } from '../errors.js';
import { attestTypeName, parseAttest, type Attest, type NvCertifyInfo } from '../tpm/attest.js';
import { checkAkAttributes } from '../tpm/ak-attributes.js';
import { TPM_ALG, TPM_GENERATED_VALUE, TPM_ST } from '../tpm/constants.js';
import { nvName, type NvPublicArea } from '../tpm/nv-public.js';
import { objectName, type PublicArea } from '../tpm/public.js';
import { parseSignature, verifyTpmSignature } from '../tpm/signature.js';
import { EXTEND_INDEX_ATTRIBUTES, OWNER_NV_FIRST, OWNER_NV_LAST, writtenPublic } from '../tpm/nv-extend-index.js';

/**
 * NV_Certify evidence: the AK's signed statement of an NV index's Name and contents. Nothing in
 * it is trusted until `verifyNvCertify` returns; the index's public area is the certificate's
 * claim, and the signed Name must be the Name of exactly that public area.
 */
export interface NvCertifyEvidence {
  /** TPMS_ATTEST bytes exactly as signed. */
  attest: Uint8Array;
  /** TPMT_SIGNATURE bytes. */
  signature: Uint8Array;
  akPublic: PublicArea;
  /** The index's public area as the certificate claims it (checked by `checkExtendIndexPublic`). */
  nvPublic: NvPublicArea;
}

/** Facts a verified NV certification vouches for. */
export interface VerifiedNvCertify {
  akName: Buffer;
  clock: bigint;
  resetCount: number;
  restartCount: number;
  /** The index's Name, as signed: nameAlg ‖ H(TPMS_NV_PUBLIC). */
  indexName: Buffer;
  /** The index's whole value when certified. */
  contents: Buffer;
}

/** The checks `verifyNvCertify` runs, in order; each failure is a `VerificationError` with its id as code. */
export const NV_CERTIFY_CHECKS = ['nv.signature', 'nv.magic', 'nv.type', 'nv.nonce', 'nv.name', 'nv.contents'] as const;
export type NvCertifyCheck = (typeof NV_CERTIFY_CHECKS)[number];

/**
 * The public area of a run's register must be an index only its run could write: a SHA-256
 * TPM_NT_EXTEND index of 32 bytes in the owner range, written (TPMA_NV_WRITTEN), whose only
 * write authorization is its policy (no owner, platform or password writes), and whose value
 * a TPM Restart or Reset does not clear. The policy itself is the run's own key (PolicySigned);
 * its digest is bound by the Name, which the session event and both certifications carry.
 */
export function checkExtendIndexPublic(p: NvPublicArea): void {
  const fail = (why: string) => new VerificationError('register', `the NV index ${hex(p.index)} ${why}`);
  if (p.index < OWNER_NV_FIRST || p.index > OWNER_NV_LAST)
    throw fail(`is outside the owner range ${hex(OWNER_NV_FIRST)}-${hex(OWNER_NV_LAST)}`);
  if (p.nameAlg !== TPM_ALG.SHA256) throw fail(`has nameAlg 0x${p.nameAlg.toString(16)}, not SHA-256`);
  if (p.dataSize !== 32) throw fail(`holds ${p.dataSize} bytes, not one SHA-256 digest`);
  if (p.authPolicy.length !== 32) throw fail('has no SHA-256 write policy');
  const expected = writtenPublic({ ...p, attributes: EXTEND_INDEX_ATTRIBUTES }).attributes;
  if (p.attributes !== expected)
    throw fail(
      `has attributes 0x${p.attributes.toString(16)}, not 0x${expected.toString(16)} (a written extend index that only its policy can write)`,
    );
}

/**
 * Verifies an NV_Certify attestation offline, like `verifyQuote`: the AK is a restricted signing
 * key, it signed these bytes, they are a TPM-generated NV certification for `nonce`, of the
 * index whose public area is given, and of its whole 32-byte value.
 */
export async function verifyNvCertify(
  evidence: NvCertifyEvidence,
  expected: { nonce: Uint8Array },
): Promise<VerifiedNvCertify> {
  checkAkAttributes(evidence.akPublic.public);
  const signature = parseSignature(evidence.signature);
  const result = await verifyTpmSignature(evidence.akPublic, evidence.attest, signature);
  if (!result.ok)
    throw new VerificationError(
      'nv.signature',
      `the NV certification signature is not valid for this attestation key: ${result.reason}`,
    );
  const attest = parseAttest(evidence.attest);
  if (attest.magic !== TPM_GENERATED_VALUE)
    throw new VerificationError(
      'nv.magic',
      `the NV certification does not start with TPM_GENERATED_VALUE (0x${attest.magic.toString(16)}): it was not produced by a TPM`,
    );
  const nv = checkType(attest);
  if (!attest.extraData.equals(expected.nonce))
    throw new VerificationError(
      'nv.nonce',
      `its qualifying data (${attest.extraData.toString('hex') || 'empty'}) is not ${Buffer.from(expected.nonce).toString('hex')}`,
    );
  const name = nvName(evidence.nvPublic);
  if (!nv.indexName.equals(name))
    throw new VerificationError(
      'nv.name',
      `the TPM certified NV index ${nv.indexName.toString('hex')}, but the certificate's index has Name ${name.toString('hex')}`,
    );
  if (nv.offset !== 0 || nv.nvContents.length !== evidence.nvPublic.dataSize)
    throw new VerificationError(
      'nv.contents',
      `the certification covers ${nv.nvContents.length} bytes from offset ${nv.offset}, not the whole ${evidence.nvPublic.dataSize}-byte value`,
    );
  return {
    akName: objectName(evidence.akPublic),
    clock: attest.clockInfo.clock,
    resetCount: attest.clockInfo.resetCount,
    restartCount: attest.clockInfo.restartCount,
    indexName: nv.indexName,
    contents: nv.nvContents,
  };
}

function checkType(attest: Attest): NvCertifyInfo {
  if (attest.body !== 'nv')
    throw new VerificationError(
      'nv.type',
      `the attestation is a ${attestTypeName(attest.type)} structure, not an NV certification (type 0x${TPM_ST.ATTEST_NV.toString(16)})`,
    );
  return attest.nv;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
