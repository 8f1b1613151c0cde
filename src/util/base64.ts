import { InputError } from '../errors.js';

const STANDARD = /^[A-Za-z0-9+/]*={0,2}$/;
const URL_SAFE = /^[A-Za-z0-9_-]*={0,2}$/;

/**
 * Decodes base64 text strictly: the standard alphabet (RFC 4648 §4) with its padding, or the
 * URL-safe alphabet (§5) with or without padding, as DSSE and protobuf JSON require verifiers
 * to accept (text with neither `+/` nor `-_` is read as URL-safe). Everything else is refused:
 * mixed alphabets, whitespace, misplaced, partial or excess padding, and non-zero trailing bits
 * (which lax decoders drop silently, so two texts would carry the same signed bytes).
 */
export function decodeBase64Strict(text: string, what: string): Buffer {
  const standard = /[+/]/.test(text);
  if (!(standard ? STANDARD : URL_SAFE).test(text)) {
    throw new InputError('base64.invalid', `${what} is not base64: it has characters outside one base64 alphabet`);
  }
  const unpadded = text.replace(/=+$/, '');
  if (unpadded.length % 4 === 1) {
    throw new InputError('base64.invalid', `${what} is not base64: its length is impossible`);
  }
  const padding = text.length - unpadded.length;
  const fullPadding = (4 - (unpadded.length % 4)) % 4;
  // Only the URL-safe form may drop its padding; any padding present must be complete.
  if (padding !== fullPadding && (standard || padding !== 0)) {
    throw new InputError('base64.invalid', `${what} is not base64: its padding is wrong`);
  }
  const encoding = standard ? 'base64' : 'base64url';
  const bytes = Buffer.from(unpadded, encoding);
  // Re-encoding catches the non-zero trailing bits that Node's decoder silently drops.
  if (bytes.toString(encoding).replace(/=+$/, '') !== unpadded) {
    throw new InputError('base64.invalid', `${what} is not canonical base64: its last character has stray bits`);
  }
  return bytes;
}

/** Standard base64 with padding: what Sigstore bundles and DSSE envelopes carry. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
