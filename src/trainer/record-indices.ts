import { InputError } from '../errors.js';
import { readBoundedFile } from '../util/bounded-file.js';

/** A record's number in its dataset file: 0, 1, 2… in file order. */
export function isRecordIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** 10^6 indices of up to 9 digits and a comma; far more than any audit asks a loss for. */
const MAX_RECORDS_FILE_BYTES = 16 * 1024 * 1024;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** AICERT_RECORDS of loss mode: a JSON array of record indices (repeats allowed; order kept). */
export async function readRecordIndices(path: string): Promise<number[]> {
  const bytes = await readBoundedFile(path, MAX_RECORDS_FILE_BYTES, 'record index file', 'trainer.records-file');
  const fail = (problem: string) => new InputError('trainer.records-file', `${path}: ${problem}`);
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch (err) {
    throw fail(`not UTF-8 JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(value) || !value.every(isRecordIndex))
    throw fail('must be a JSON array of record indices (whole numbers ≥ 0)');
  return value;
}
