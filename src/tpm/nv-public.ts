import { createHash } from 'node:crypto';
import { HASH_ALGS } from './constants.js';
import { TpmFormatError, TpmReader, type TpmWriter, marshal } from './marshal.js';

/** TPMS_NV_PUBLIC (TPM 2.0 Part 2, 13.5): what an NV index is, and what its Name is the digest of. */
export interface NvPublicArea {
  index: number;
  nameAlg: number;
  attributes: number;
  authPolicy: Buffer;
  dataSize: number;
}

/** TPM2B_DIGEST: an authPolicy is at most a SHA-512 digest. */
const MAX_POLICY = 64;

export function writeNvPublic(w: TpmWriter, p: NvPublicArea): void {
  w.u32(p.index).u16(p.nameAlg).u32(p.attributes).tpm2b(p.authPolicy).u16(p.dataSize);
}

/** The TPMS_NV_PUBLIC bytes (without a TPM2B size). */
export function marshalNvPublic(p: NvPublicArea): Buffer {
  return marshal((w) => writeNvPublic(w, p));
}

export function readNvPublic(r: TpmReader): NvPublicArea {
  return {
    index: r.u32('nvIndex'),
    nameAlg: r.u16('nameAlg'),
    attributes: r.u32('attributes'),
    authPolicy: r.tpm2b('authPolicy', MAX_POLICY),
    dataSize: r.u16('dataSize'),
  };
}

/** Parses TPMS_NV_PUBLIC bytes, consuming them exactly (untrusted bytes: bounded reads only). */
export function parseNvPublic(bytes: Uint8Array): NvPublicArea {
  const r = new TpmReader(bytes, 'TPMS_NV_PUBLIC');
  const area = readNvPublic(r);
  r.end();
  return area;
}

/**
 * An NV index's Name: nameAlg ‖ H_nameAlg(TPMS_NV_PUBLIC). It covers the index handle, the
 * attributes (TPMA_NV_WRITTEN included, so it changes at the first write), the authPolicy and
 * the size — not the index's contents, and not its authValue.
 */
export function nvName(p: NvPublicArea): Buffer {
  const alg = HASH_ALGS[p.nameAlg];
  if (!alg) throw new TpmFormatError(`TPMS_NV_PUBLIC: unsupported nameAlg 0x${p.nameAlg.toString(16)}`);
  const head = Buffer.alloc(2);
  head.writeUInt16BE(p.nameAlg);
  return Buffer.concat([head, createHash(alg.node).update(marshalNvPublic(p)).digest()]);
}
