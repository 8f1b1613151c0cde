/** TPM 2.0 constants (TPM 2.0 Library Part 2), only those aicert uses. */

export const TPM_ST = {
  NO_SESSIONS: 0x8001,
  SESSIONS: 0x8002,
  ATTEST_NV: 0x8014,
  ATTEST_QUOTE: 0x8018,
  ATTEST_CREATION: 0x801a,
  CREATION: 0x8021,
} as const;

export const TPM_CC = {
  NV_UndefineSpace: 0x122,
  NV_DefineSpace: 0x12a,
  NV_Extend: 0x136,
  PCR_Reset: 0x13d,
  CreatePrimary: 0x131,
  Startup: 0x144,
  ActivateCredential: 0x147,
  NV_Read: 0x14e,
  PolicySecret: 0x151,
  Quote: 0x158,
  PolicySigned: 0x160,
  FlushContext: 0x165,
  LoadExternal: 0x167,
  NV_ReadPublic: 0x169,
  ReadPublic: 0x173,
  StartAuthSession: 0x176,
  GetCapability: 0x17a,
  GetRandom: 0x17b,
  PCR_Read: 0x17e,
  PCR_Extend: 0x182,
  NV_Certify: 0x184,
} as const;

export const TPM_ALG = {
  RSA: 0x0001,
  SHA1: 0x0004,
  HMAC: 0x0005,
  AES: 0x0006,
  KEYEDHASH: 0x0008,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  RSASSA: 0x0014,
  RSAPSS: 0x0016,
  OAEP: 0x0017,
  ECDSA: 0x0018,
  ECDH: 0x0019,
  ECC: 0x0023,
  SYMCIPHER: 0x0025,
  CFB: 0x0043,
} as const;

export const TPM_ECC_CURVE = {
  NIST_P256: 0x0003,
  NIST_P384: 0x0004,
  NIST_P521: 0x0005,
} as const;

export const TPM_RH = {
  OWNER: 0x40000001,
  NULL: 0x40000007,
  PW: 0x40000009,
  ENDORSEMENT: 0x4000000b,
  PLATFORM: 0x4000000c,
} as const;

export const TPM_SE = { HMAC: 0x00, POLICY: 0x01, TRIAL: 0x03 } as const;

export const TPM_SU = { CLEAR: 0x0000, STATE: 0x0001 } as const;

export const TPM_CAP = {
  ALGS: 0x00000000,
  HANDLES: 0x00000001,
  PCRS: 0x00000005,
  TPM_PROPERTIES: 0x00000006,
  PCR_PROPERTIES: 0x00000007,
} as const;

/** TPM_PT values (PT_FIXED group starts at 0x100). */
export const TPM_PT = {
  FAMILY_INDICATOR: 0x100,
  LEVEL: 0x101,
  REVISION: 0x102,
  DAY_OF_YEAR: 0x103,
  YEAR: 0x104,
  MANUFACTURER: 0x105,
  VENDOR_STRING_1: 0x106,
  VENDOR_STRING_2: 0x107,
  VENDOR_STRING_3: 0x108,
  VENDOR_STRING_4: 0x109,
  FIRMWARE_VERSION_1: 0x10b,
  FIRMWARE_VERSION_2: 0x10c,
  NV_BUFFER_MAX: 0x12c,
  MAX_COMMAND_SIZE: 0x11e,
  MAX_RESPONSE_SIZE: 0x11f,
} as const;

/** TPM_PT_PCR values for TPM_CAP_PCR_PROPERTIES. */
export const TPM_PT_PCR = {
  SAVE: 0x00,
  EXTEND_L0: 0x01,
  RESET_L0: 0x02,
  EXTEND_L1: 0x03,
  RESET_L1: 0x04,
  EXTEND_L2: 0x05,
  RESET_L2: 0x06,
  EXTEND_L3: 0x07,
  RESET_L3: 0x08,
  EXTEND_L4: 0x09,
  RESET_L4: 0x0a,
  NO_INCREMENT: 0x11,
} as const;

/** TPMA_OBJECT bits. */
export const TPMA_OBJECT = {
  fixedTPM: 0x00000002,
  stClear: 0x00000004,
  fixedParent: 0x00000010,
  sensitiveDataOrigin: 0x00000020,
  userWithAuth: 0x00000040,
  adminWithPolicy: 0x00000080,
  noDA: 0x00000400,
  encryptedDuplication: 0x00000800,
  restricted: 0x00010000,
  decrypt: 0x00020000,
  sign: 0x00040000,
} as const;

/** TPMA_NV bits (Part 2, 13.4), only those aicert sets or must see clear. */
export const TPMA_NV = {
  PPWRITE: 0x00000001,
  OWNERWRITE: 0x00000002,
  AUTHWRITE: 0x00000004,
  POLICYWRITE: 0x00000008,
  /** TPM_NT in bits 4-7: TPM_NT_EXTEND = 4. */
  NT_EXTEND: 0x00000040,
  NT_MASK: 0x000000f0,
  OWNERREAD: 0x00020000,
  AUTHREAD: 0x00040000,
  NO_DA: 0x02000000,
  WRITTEN: 0x20000000,
} as const;

/** The magic value at the start of every TPMS_ATTEST the TPM generates. */
export const TPM_GENERATED_VALUE = 0xff544347;

/** Hash algorithms the project understands, with their digest sizes and Node names. */
export const HASH_ALGS: Record<number, { name: string; size: number; node: string }> = {
  [TPM_ALG.SHA1]: { name: 'sha1', size: 20, node: 'sha1' },
  [TPM_ALG.SHA256]: { name: 'sha256', size: 32, node: 'sha256' },
  [TPM_ALG.SHA384]: { name: 'sha384', size: 48, node: 'sha384' },
  [TPM_ALG.SHA512]: { name: 'sha512', size: 64, node: 'sha512' },
};

export function hashAlgByName(name: string): number {
  for (const [alg, info] of Object.entries(HASH_ALGS)) if (info.name === name) return Number(alg);
  throw new RangeError(`unknown hash algorithm ${name}`);
}
