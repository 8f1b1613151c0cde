import { EnvironmentError } from '../errors.js';

/** Names of TPM_RC values (TPM 2.0 Part 2, 6.6), so errors read as `TPM_RC_LOCALITY (0x907)`. */
const VER1: Record<number, string> = {
  0x100: 'INITIALIZE',
  0x101: 'FAILURE',
  0x103: 'SEQUENCE',
  0x10b: 'PRIVATE',
  0x119: 'HMAC',
  0x120: 'DISABLED',
  0x121: 'EXCLUSIVE',
  0x124: 'AUTH_TYPE',
  0x125: 'AUTH_MISSING',
  0x126: 'POLICY',
  0x127: 'PCR',
  0x128: 'PCR_CHANGED',
  0x12d: 'UPGRADE',
  0x12e: 'TOO_MANY_CONTEXTS',
  0x12f: 'AUTH_UNAVAILABLE',
  0x130: 'REBOOT',
  0x131: 'UNBALANCED',
  0x142: 'COMMAND_SIZE',
  0x143: 'COMMAND_CODE',
  0x144: 'AUTHSIZE',
  0x145: 'AUTH_CONTEXT',
  0x146: 'NV_RANGE',
  0x147: 'NV_SIZE',
  0x148: 'NV_LOCKED',
  0x149: 'NV_AUTHORIZATION',
  0x14a: 'NV_UNINITIALIZED',
  0x14b: 'NV_SPACE',
  0x14c: 'NV_DEFINED',
  0x150: 'BAD_CONTEXT',
  0x151: 'CPHASH',
  0x152: 'PARENT',
  0x153: 'NEEDS_TEST',
  0x154: 'NO_RESULT',
  0x155: 'SENSITIVE',
};
const WARN: Record<number, string> = {
  0x901: 'CONTEXT_GAP',
  0x902: 'OBJECT_MEMORY',
  0x903: 'SESSION_MEMORY',
  0x904: 'MEMORY',
  0x905: 'SESSION_HANDLES',
  0x906: 'OBJECT_HANDLES',
  0x907: 'LOCALITY',
  0x908: 'YIELDED',
  0x909: 'CANCELED',
  0x90a: 'TESTING',
  0x920: 'NV_RATE',
  0x921: 'LOCKOUT',
  0x922: 'RETRY',
  0x923: 'NV_UNAVAILABLE',
};
const FMT1: Record<number, string> = {
  0x081: 'ASYMMETRIC',
  0x082: 'ATTRIBUTES',
  0x083: 'HASH',
  0x084: 'VALUE',
  0x085: 'HIERARCHY',
  0x087: 'KEY_SIZE',
  0x088: 'MGF',
  0x089: 'MODE',
  0x08a: 'TYPE',
  0x08b: 'HANDLE',
  0x08c: 'KDF',
  0x08d: 'RANGE',
  0x08e: 'AUTH_FAIL',
  0x08f: 'NONCE',
  0x090: 'PP',
  0x092: 'SCHEME',
  0x095: 'SIZE',
  0x096: 'SYMMETRIC',
  0x097: 'TAG',
  0x098: 'SELECTOR',
  0x09a: 'INSUFFICIENT',
  0x09b: 'SIGNATURE',
  0x09c: 'KEY',
  0x09d: 'POLICY_FAIL',
  0x09f: 'INTEGRITY',
  0x0a0: 'TICKET',
  0x0a1: 'RESERVED_BITS',
  0x0a2: 'BAD_AUTH',
  0x0a3: 'EXPIRED',
  0x0a4: 'POLICY_CC',
  0x0a5: 'BINDING',
  0x0a6: 'CURVE',
  0x0a7: 'ECC_POINT',
};

/** Decodes a response code into its name and, for format-one codes, what it refers to. */
export function describeResponseCode(rc: number): { name: string; base: number; subject?: string } {
  const hex = (n: number) => `0x${n.toString(16)}`;
  if (rc & 0x80) {
    // Format one: error number in bits 0-5, plus a parameter, handle or session number.
    const base = 0x80 + (rc & 0x3f);
    const n = (rc >> 8) & 0xf;
    let subject: string | undefined;
    if (rc & 0x40) subject = `parameter ${n}`;
    else if (n & 0x8) subject = `session ${n & 0x7}`;
    else if (n) subject = `handle ${n}`;
    return { name: `TPM_RC_${FMT1[base] ?? hex(base)}`, base, subject };
  }
  if (rc & 0x400) return { name: `TPM_RC_VENDOR_${hex(rc)}`, base: rc };
  if (rc & 0x800) {
    const base = rc & 0x97f;
    if (base >= 0x910 && base <= 0x916) return { name: `TPM_RC_REFERENCE_H${base - 0x910}`, base };
    if (base >= 0x918 && base <= 0x91e) return { name: `TPM_RC_REFERENCE_S${base - 0x918}`, base };
    return { name: `TPM_RC_${WARN[base] ?? hex(base)}`, base };
  }
  if (rc & 0x100) return { name: `TPM_RC_${VER1[rc & 0x17f] ?? hex(rc)}`, base: rc & 0x17f };
  return { name: `TPM 1.2 response code ${hex(rc)}`, base: rc };
}

/** A TPM command that the TPM answered with a non-success response code. */
export class TpmResponseError extends EnvironmentError {
  readonly rcName: string;

  constructor(
    readonly responseCode: number,
    readonly command: string,
  ) {
    const d = describeResponseCode(responseCode);
    super(
      'tpm.response',
      `${d.name} (0x${responseCode.toString(16)})${d.subject ? ` ${d.subject}` : ''} in ${command}`,
    );
    this.name = 'TpmResponseError';
    this.rcName = d.name;
  }
}
