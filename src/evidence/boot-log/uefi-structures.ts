/**
 * The UEFI structures boot events carry as data (TCG PC Client PFP section 10.2.6): variable
 * measurements and image loads. Readers return undefined for data that does not hold the
 * structure; every length is checked against the bytes present before it is used.
 */

/** EFI_GLOBAL_VARIABLE, the vendor GUID of SecureBoot, PK, KEK (in its mixed-endian byte order). */
const EFI_GLOBAL_VARIABLE = Buffer.from('61dfe48bca93d211aa0d00e098032b8c', 'hex');
/** EFI_IMAGE_SECURITY_DATABASE_GUID, the vendor GUID of db and dbx. */
const EFI_IMAGE_SECURITY_DATABASE = Buffer.from('cbb219d73a3d9645a3bcdad00e67656f', 'hex');

/** A variable's name is at most this many UTF-16 units (firmware names are short). */
const MAX_VARIABLE_NAME = 1024;

export interface UefiVariable {
  /** The vendor GUID's bytes, hex. */
  vendor: string;
  /** `SecureBoot`, `PK`, `KEK`, `db`, `dbx` when the vendor GUID is theirs; otherwise vendor:name. */
  name: string;
  data: Buffer;
}

/**
 * UEFI_VARIABLE_DATA: VariableName GUID, UnicodeNameLength u64, VariableDataLength u64,
 * UnicodeName (UTF-16LE), VariableData — and nothing after it.
 */
export function readUefiVariable(bytes: Buffer): UefiVariable | undefined {
  if (bytes.length < 32) return undefined;
  const vendor = bytes.subarray(0, 16);
  const nameLength = bytes.readBigUInt64LE(16);
  const dataLength = bytes.readBigUInt64LE(24);
  if (nameLength > BigInt(MAX_VARIABLE_NAME) || dataLength > BigInt(bytes.length)) return undefined;
  const nameEnd = 32 + Number(nameLength) * 2;
  if (nameEnd + Number(dataLength) !== bytes.length) return undefined;
  const unicodeName = bytes.subarray(32, nameEnd).toString('utf16le');
  const known =
    (vendor.equals(EFI_GLOBAL_VARIABLE) && ['SecureBoot', 'PK', 'KEK'].includes(unicodeName)) ||
    (vendor.equals(EFI_IMAGE_SECURITY_DATABASE) && ['db', 'dbx'].includes(unicodeName));
  return {
    vendor: vendor.toString('hex'),
    name: known ? unicodeName : `${vendor.toString('hex')}:${unicodeName}`,
    data: bytes.subarray(nameEnd),
  };
}

/**
 * UEFI_IMAGE_LOAD_EVENT: ImageLocationInMemory, ImageLengthInMemory, ImageLinkTimeAddress,
 * LengthOfDevicePath (u64 each), DevicePath. Returns the file path the device path names (its
 * media file-path nodes joined), or undefined when there is none. The path is a label the log
 * chose: the event's digest is the image's Authenticode hash, not a hash of this data.
 */
export function readImageLoadPath(bytes: Buffer): string | undefined {
  if (bytes.length < 32) return undefined;
  const pathLength = bytes.readBigUInt64LE(24);
  if (pathLength > BigInt(bytes.length - 32)) return undefined;
  const path = bytes.subarray(32, 32 + Number(pathLength));
  const parts: string[] = [];
  let offset = 0;
  while (offset + 4 <= path.length) {
    const type = path[offset]!;
    const subtype = path[offset + 1]!;
    const length = path.readUInt16LE(offset + 2);
    if (length < 4 || offset + length > path.length) return undefined;
    if (type === 0x7f && subtype === 0xff) break;
    // Media device (4), file path (4): a NUL-terminated UTF-16LE path.
    if (type === 4 && subtype === 4)
      parts.push(
        path
          .subarray(offset + 4, offset + length)
          .toString('utf16le')
          .replace(/\0+$/, ''),
      );
    offset += length;
  }
  return parts.length > 0
    ? parts
        .join('/')
        .replace(/\\/g, '/')
        .replace(/\/{2,}/g, '/')
    : undefined;
}
