import { createHash, createHmac } from 'node:crypto';
import { HASH_ALGS } from './constants.js';

/**
 * The two key derivation functions of TPM 2.0 Library Part 1, 11.4.10. Both produce
 * ⌈bits/8⌉ bytes and clear the unused high bits of the first byte when `bits` is not a
 * multiple of 8. A label is followed by one zero byte on the wire.
 */

/** KDFa: SP 800-108 counter mode with HMAC: HMAC(key, i ‖ label ‖ 00 ‖ contextU ‖ contextV ‖ bits). */
export function kdfa(
  hashAlg: number,
  key: Uint8Array,
  label: string,
  contextU: Uint8Array,
  contextV: Uint8Array,
  bits: number,
): Buffer {
  const node = hashNode(hashAlg);
  return counterMode(bits, HASH_ALGS[hashAlg]!.size, (counter) =>
    createHmac(node, key)
      .update(counter)
      .update(labelBytes(label))
      .update(contextU)
      .update(contextV)
      .update(u32(bits))
      .digest(),
  );
}

/** KDFe: SP 800-56A concatenation KDF: H(i ‖ Z ‖ label ‖ 00 ‖ partyUInfo ‖ partyVInfo). */
export function kdfe(
  hashAlg: number,
  z: Uint8Array,
  label: string,
  partyUInfo: Uint8Array,
  partyVInfo: Uint8Array,
  bits: number,
): Buffer {
  const node = hashNode(hashAlg);
  return counterMode(bits, HASH_ALGS[hashAlg]!.size, (counter) =>
    createHash(node).update(counter).update(z).update(labelBytes(label)).update(partyUInfo).update(partyVInfo).digest(),
  );
}

/** Upper bound on derived output: far above any key or seed the TPM derives. */
const MAX_BITS = 8 * 1024 * 8;

function counterMode(bits: number, blockSize: number, block: (counter: Buffer) => Buffer): Buffer {
  if (!Number.isInteger(bits) || bits < 0 || bits > MAX_BITS)
    throw new RangeError(`KDF output of ${bits} bits is out of range`);
  const bytes = Math.ceil(bits / 8);
  const blocks: Buffer[] = [];
  for (let i = 1; i <= Math.ceil(bytes / blockSize); i++) blocks.push(block(u32(i)));
  const out = Buffer.concat(blocks).subarray(0, bytes);
  if (bits % 8 !== 0) out[0]! &= (1 << (bits % 8)) - 1;
  return out;
}

function hashNode(hashAlg: number): string {
  const alg = HASH_ALGS[hashAlg];
  if (!alg) throw new RangeError(`hash algorithm 0x${hashAlg.toString(16)} is not supported`);
  return alg.node;
}

function labelBytes(label: string): Buffer {
  return Buffer.concat([Buffer.from(label, 'latin1'), Buffer.of(0)]);
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
}
