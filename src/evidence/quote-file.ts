import { createPublicKey } from 'node:crypto';
import { z } from 'zod';
import { InputError } from '../errors.js';
import { decodeBase64Strict, encodeBase64 } from '../util/base64.js';
import { describeSchemaError } from '../util/schema-error.js';
import { HASH_ALGS, hashAlgByName } from '../tpm/constants.js';
import { hashAlgName, type PcrSelection } from '../tpm/pcr-selection.js';
import { objectName, parsePublic2b, public2b, publicKeyObject, publicKeyPem, type PublicArea } from '../tpm/public.js';
import type { QuoteEvidence } from './quote.js';
import type { PcrValues } from '../tpm/pcr-selection.js';

/**
 * The quote file written by `aicert tpm quote --out FILE.json` and read by
 * `aicert tpm check-quote`: a TPM quote with everything needed to check it offline.
 *
 *   { "version": 1,
 *     "attest": base64 TPMS_ATTEST (the signed bytes),
 *     "signature": base64 TPMT_SIGNATURE,
 *     "akPublic": base64 TPM2B_PUBLIC of the attestation key,
 *     "akPublicPem": the same key as SubjectPublicKeyInfo PEM (for other tools),
 *     "akName": hex Name of the AK (nameAlg ‖ H(TPMT_PUBLIC)),
 *     "nonce": hex qualifying data the quote was made with,
 *     "pcrs": { "sha256": { "0": hex, "23": hex, ... } } }
 *
 * `akPublic` is authoritative; `akPublicPem` and `akName` must agree with it or the file is
 * refused. The file is evidence, not trust: `nonce` only records what was asked for, and the
 * checker compares the quote with the nonce *it* expects.
 */
export interface QuoteFile extends QuoteEvidence {
  attest: Buffer;
  signature: Buffer;
  akName: Buffer;
  nonce: Buffer;
}

/** Generous bounds: a quote over every PCR of four banks is about 400 bytes. */
const MAX_FILE_CHARS = 256 * 1024;
const MAX_ATTEST = 1024;
const MAX_SIGNATURE = 1024;
const MAX_PUBLIC = 1024;
const MAX_PEM_CHARS = 4096;
const MAX_NONCE = 64;

const BANKS = ['sha1', 'sha256', 'sha384', 'sha512'] as const;
const hex = (maxBytes: number) =>
  z
    .string()
    .max(maxBytes * 2)
    .regex(/^(?:[0-9a-f]{2})*$/, 'expected lower-case hex');
const base64 = (maxBytes: number) => z.string().max(Math.ceil(maxBytes / 3) * 4);

const quoteFileSchema = z.strictObject({
  version: z.literal(1),
  attest: base64(MAX_ATTEST),
  signature: base64(MAX_SIGNATURE),
  akPublic: base64(MAX_PUBLIC),
  akPublicPem: z.string().max(MAX_PEM_CHARS),
  akName: hex(2 + 64),
  nonce: hex(MAX_NONCE),
  pcrs: z.partialRecord(
    z.enum(BANKS),
    z.record(z.string().regex(/^(?:1?[0-9]|2[0-3])$/, 'expected a PCR index 0-23'), hex(64)),
  ),
});
export type QuoteFileJson = z.infer<typeof quoteFileSchema>;

export function toQuoteFile(quote: {
  attest: Uint8Array;
  signature: Uint8Array;
  akPublic: PublicArea;
  nonce: Uint8Array;
  pcrs: PcrValues;
}): QuoteFileJson {
  const pcrs: QuoteFileJson['pcrs'] = {};
  for (const [bank, values] of quote.pcrs) {
    const name = hashAlgName(bank) as (typeof BANKS)[number];
    if (!BANKS.includes(name)) throw new RangeError(`PCR bank ${name} cannot be written to a quote file`);
    pcrs[name] = Object.fromEntries(
      [...values].sort(([a], [b]) => a - b).map(([pcr, value]) => [String(pcr), value.toString('hex')]),
    );
  }
  return {
    version: 1,
    attest: encodeBase64(quote.attest),
    signature: encodeBase64(quote.signature),
    akPublic: encodeBase64(public2b(quote.akPublic.bytes)),
    akPublicPem: publicKeyPem(quote.akPublic.public),
    akName: objectName(quote.akPublic).toString('hex'),
    nonce: Buffer.from(quote.nonce).toString('hex'),
    pcrs,
  };
}

/** Parses and checks a quote file's text. Every failure is an `InputError` (exit 2). */
export function parseQuoteFile(text: string): QuoteFile {
  if (text.length > MAX_FILE_CHARS)
    throw malformed(`it is ${text.length} characters long, over the ${MAX_FILE_CHARS} limit`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw malformed(`it is not JSON (${(err as Error).message})`);
  }
  const parsed = quoteFileSchema.safeParse(json);
  if (!parsed.success) throw malformed(describeSchemaError(parsed.error));
  const f = parsed.data;

  const akPublic = parsePublic2b(decodeBase64Strict(f.akPublic, 'akPublic'));
  const akName = objectName(akPublic);
  if (akName.toString('hex') !== f.akName) {
    throw new InputError(
      'quote-file.inconsistent',
      `quote file: akName ${f.akName} is not the Name of akPublic (${akName.toString('hex')})`,
    );
  }
  if (!samePem(f.akPublicPem, akPublic)) {
    throw new InputError('quote-file.inconsistent', 'quote file: akPublicPem is not the key in akPublic');
  }
  return {
    attest: decodeBase64Strict(f.attest, 'attest'),
    signature: decodeBase64Strict(f.signature, 'signature'),
    akPublic,
    akName,
    nonce: Buffer.from(f.nonce, 'hex'),
    pcrs: pcrValuesFrom(f.pcrs),
  };
}

/** The selection the file claims values for (banks in file order, indices ascending). */
export function claimedSelection(pcrs: PcrValues): PcrSelection[] {
  return [...pcrs].map(([hashAlg, values]) => ({ hashAlg, pcrs: [...values.keys()].sort((a, b) => a - b) }));
}

function pcrValuesFrom(json: QuoteFileJson['pcrs']): PcrValues {
  const out: PcrValues = new Map();
  for (const [name, values] of Object.entries(json)) {
    const alg = hashAlgByName(name);
    const size = HASH_ALGS[alg]!.size;
    const bank = new Map<number, Buffer>();
    for (const [pcr, value] of Object.entries(values ?? {})) {
      if (value.length !== size * 2)
        throw malformed(`at pcrs.${name}.${pcr}: the value has ${value.length / 2} bytes; a ${name} PCR has ${size}`);
      bank.set(Number(pcr), Buffer.from(value, 'hex'));
    }
    out.set(alg, new Map([...bank].sort(([a], [b]) => a - b)));
  }
  return out;
}

function samePem(pem: string, akPublic: PublicArea): boolean {
  const key = publicKeyObject(akPublic.public);
  try {
    return key.equals(createPublicKey({ key: pem, format: 'pem' }));
  } catch {
    return false; // not a PEM public key at all
  }
}

function malformed(detail: string): InputError {
  return new InputError('quote-file.malformed', `quote file is malformed: ${detail}`);
}
