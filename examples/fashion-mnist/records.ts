import { readFileSync, statSync } from 'node:fs';
import { InputError } from '../../src/errors.js';
import { parseJsonObject } from '../../src/util/strict-json.js';

/**
 * The example's dataset format: JSONL, one image per line,
 * `{"label":N,"pixels":"<base64 of 784 uint8 pixels, row-major 28×28>"}`.
 * One record per line is what lets aicert's dataset Merkle tree prove that a single image was in
 * the training set.
 */

export const IMAGE_PIXELS = 28 * 28;
export const CLASS_COUNT = 10;
export const CLASS_NAMES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

/** Refuse files larger than this before reading them (the full Fashion-MNIST is about 75 MB). */
const MAX_FILE_BYTES = 128 * 1024 * 1024;
const LF = 0x0a;
const RECORD_KEYS = 'label,pixels';
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface ImageSet {
  count: number;
  /** One class index per image. */
  labels: Uint8Array;
  /** `count` × IMAGE_PIXELS grey levels 0–255, image after image. */
  pixels: Uint8Array;
}

/** One record as a line of the file, without the line terminator. */
export function encodeRecord(label: number, pixels: Uint8Array): string {
  return JSON.stringify({ label, pixels: Buffer.from(pixels).toString('base64') });
}

/**
 * Parses one line strictly: an object with exactly `label` (an integer class 0–9) and `pixels`
 * (canonical base64 of exactly IMAGE_PIXELS bytes). `where` prefixes error messages.
 */
export function parseRecord(line: Uint8Array, where: string): { label: number; pixels: Buffer } {
  const fail = (message: string) => new InputError('example.bad-record', `${where}: ${message}`);
  const record = parseJsonObject(line, (_problem, detail) => fail(`the record is not a JSON object: ${detail}`));
  if (Object.keys(record).sort().join() !== RECORD_KEYS) {
    throw fail('a record must have exactly the keys "label" and "pixels"');
  }
  const { label, pixels } = record;
  if (typeof label !== 'number' || !Number.isInteger(label) || label < 0 || label >= CLASS_COUNT) {
    throw fail(`"label" must be an integer from 0 to ${CLASS_COUNT - 1}, got ${JSON.stringify(label)}`);
  }
  if (typeof pixels !== 'string' || !BASE64.test(pixels)) throw fail('"pixels" must be a base64 string');
  const bytes = Buffer.from(pixels, 'base64');
  // Buffer's decoder skips stray characters and odd padding; only the canonical spelling is one image.
  if (bytes.length !== IMAGE_PIXELS || bytes.toString('base64') !== pixels) {
    throw fail(`"pixels" must be the canonical base64 of exactly ${IMAGE_PIXELS} bytes`);
  }
  return { label, pixels: bytes };
}

/**
 * Reads the records of a JSONL file, at most `limit` of them (the first ones). Lines end with LF;
 * the last line may lack it; empty lines are errors (a record cannot be empty).
 */
export function readImageSet(path: string, limit = Number.POSITIVE_INFINITY): ImageSet {
  let size: number;
  try {
    const stats = statSync(path);
    if (!stats.isFile()) throw new InputError('example.missing-data', `${path} is not a regular file`);
    size = stats.size;
  } catch (err) {
    if (err instanceof InputError) throw err;
    const errno = (err as NodeJS.ErrnoException).code;
    throw new InputError(
      'example.missing-data',
      errno === 'ENOENT' ? `${path} does not exist` : `cannot read ${path}: ${errno}`,
    );
  }
  if (size > MAX_FILE_BYTES) {
    throw new InputError(
      'example.data-too-large',
      `${path} is ${size} bytes, more than the ${MAX_FILE_BYTES}-byte limit`,
    );
  }
  const text = readFileSync(path);
  const labels: number[] = [];
  const images: Buffer[] = [];
  let start = 0;
  for (let lineNumber = 1; start < text.length && labels.length < limit; lineNumber++) {
    const newline = text.indexOf(LF, start);
    const end = newline < 0 ? text.length : newline;
    const { label, pixels } = parseRecord(text.subarray(start, end), `${path} line ${lineNumber}`);
    labels.push(label);
    images.push(pixels);
    start = end + 1;
  }
  if (labels.length === 0) throw new InputError('example.empty-data', `${path} holds no records`);
  return { count: labels.length, labels: Uint8Array.from(labels), pixels: Buffer.concat(images) };
}
