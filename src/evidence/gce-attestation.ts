import { InputError } from '../errors.js';
import { HASH_ALGS } from '../tpm/constants.js';
import type { PcrValues } from '../tpm/pcr-selection.js';
import { parsePublic, type PublicArea } from '../tpm/public.js';
import { readProtobufFields, type ProtobufField } from '../util/protobuf-wire.js';

/**
 * The `attest.Attestation` message of google/go-tpm-tools (proto/attest.proto), what its
 * `gotpm attest` and Confidential Space produce on Google Cloud: the AK's TPMT_PUBLIC, one quote
 * per PCR bank with the PCR values, the TCG binary boot event log, and the AK certificate with
 * its intermediates. Parsed here only into shape: nothing is believed until verified
 * (verify/gce-attestation.ts). Fields aicert does not verify (the canonical event log, the
 * instance information, SEV-SNP and TDX reports) are skipped, never reported as facts.
 */
export interface GceAttestation {
  akPublic: PublicArea;
  quotes: GceQuote[];
  /** The TCG PC Client binary event log (`/sys/kernel/security/tpm0/binary_bios_measurements`). */
  eventLog: Buffer;
  /** DER; absent in attestations made without a vendor AK certificate. */
  akCertificate?: Buffer;
  intermediates: Buffer[];
}

export interface GceQuote {
  /** TPMS_ATTEST bytes as signed. */
  attest: Buffer;
  /** TPMT_SIGNATURE bytes. */
  signature: Buffer;
  /** The bank of the claimed values, and the values. */
  hashAlg: number;
  pcrs: PcrValues;
}

/** Real attestations are tens of KiB (the event log); a megabyte-sized one is refused before parsing. */
export const MAX_GCE_ATTESTATION_BYTES = 4 * 1024 * 1024;
const MAX_QUOTES = 8;
const MAX_INTERMEDIATES = 8;
const MAX_PCR = 23;
/**
 * Fields read per message: far above what go-tpm-tools writes (an Attestation has about a dozen
 * fields, a PCRs message one per PCR), far below the wire reader's default, whose 100,000 views
 * of a crafted 200 KB message take tens of MiB and a fifth of a second (found by fuzzing).
 */
const MAX_FIELDS = { attestation: 1000, quote: 64, pcrs: 64, mapEntry: 8 } as const;

// Field numbers of proto/attest.proto and proto/tpm.proto.
const ATTESTATION = { akPub: 1, quotes: 2, eventLog: 3, akCert: 6, intermediateCerts: 7 } as const;
const QUOTE = { quote: 1, rawSig: 2, pcrs: 3 } as const;
const PCRS = { hash: 1, pcrs: 2 } as const;
const MAP_ENTRY = { key: 1, value: 2 } as const;

function malformed(detail: string): InputError {
  return new InputError('gce.malformed', `the Google Cloud attestation is malformed: ${detail}`);
}

/** Parses an `attest.Attestation`; InputError `gce.malformed` or `protobuf.malformed` on bad bytes. */
export function parseGceAttestation(bytes: Uint8Array): GceAttestation {
  if (bytes.length > MAX_GCE_ATTESTATION_BYTES)
    throw malformed(`${bytes.length} bytes, over the ${MAX_GCE_ATTESTATION_BYTES}-byte limit`);
  const fields = readProtobufFields(bytes, 'attest.Attestation', MAX_FIELDS.attestation);
  const akPub = single(fields, ATTESTATION.akPub, 'ak_pub');
  if (!akPub) throw malformed('it has no ak_pub');
  const eventLog = single(fields, ATTESTATION.eventLog, 'event_log');
  if (!eventLog) throw malformed('it has no event_log');
  const quoteFields = repeated(fields, ATTESTATION.quotes, 'quotes');
  if (quoteFields.length === 0) throw malformed('it has no quotes');
  if (quoteFields.length > MAX_QUOTES) throw malformed(`${quoteFields.length} quotes, over the limit of ${MAX_QUOTES}`);
  const intermediates = repeated(fields, ATTESTATION.intermediateCerts, 'intermediate_certs');
  if (intermediates.length > MAX_INTERMEDIATES)
    throw malformed(`${intermediates.length} intermediate certificates, over the limit of ${MAX_INTERMEDIATES}`);
  let akPublic: PublicArea;
  try {
    akPublic = parsePublic(akPub);
  } catch (err) {
    throw malformed(`ak_pub is not a TPMT_PUBLIC: ${(err as Error).message}`);
  }
  const akCertificate = single(fields, ATTESTATION.akCert, 'ak_cert');
  return {
    akPublic,
    quotes: quoteFields.map((q, i) => parseQuote(q, i)),
    eventLog: Buffer.from(eventLog),
    ...(akCertificate && { akCertificate: Buffer.from(akCertificate) }),
    intermediates: intermediates.map((c) => Buffer.from(c)),
  };
}

function parseQuote(bytes: Buffer, index: number): GceQuote {
  const where = `quotes[${index}]`;
  const fields = readProtobufFields(bytes, `tpm.Quote ${where}`, MAX_FIELDS.quote);
  const attest = single(fields, QUOTE.quote, `${where}.quote`);
  const signature = single(fields, QUOTE.rawSig, `${where}.raw_sig`);
  const pcrs = single(fields, QUOTE.pcrs, `${where}.pcrs`);
  if (!attest || !signature || !pcrs) throw malformed(`${where} lacks its quote, raw_sig or pcrs`);
  const pcrFields = readProtobufFields(pcrs, `tpm.PCRs ${where}`, MAX_FIELDS.pcrs);
  const hashAlg = singleVarint(pcrFields, PCRS.hash, `${where}.pcrs.hash`);
  const size = HASH_ALGS[hashAlg]?.size;
  if (size === undefined) throw malformed(`${where}.pcrs.hash is 0x${hashAlg.toString(16)}, not a known bank`);
  const values = new Map<number, Buffer>();
  for (const entry of repeated(pcrFields, PCRS.pcrs, `${where}.pcrs.pcrs`)) {
    const entryFields = readProtobufFields(entry, `a PCR map entry of ${where}`, MAX_FIELDS.mapEntry);
    const pcr = singleVarint(entryFields, MAP_ENTRY.key, `${where}.pcrs key`);
    const value = single(entryFields, MAP_ENTRY.value, `${where}.pcrs value`) ?? Buffer.alloc(0);
    if (pcr > MAX_PCR) throw malformed(`${where} claims a value for PCR ${pcr}`);
    if (values.has(pcr)) throw malformed(`${where} gives PCR ${pcr} twice`);
    if (value.length !== size) throw malformed(`${where} gives PCR ${pcr} a ${value.length}-byte value, not ${size}`);
    values.set(pcr, Buffer.from(value));
  }
  return {
    attest: Buffer.from(attest),
    signature: Buffer.from(signature),
    hashAlg,
    pcrs: new Map([[hashAlg, new Map([...values].sort(([a], [b]) => a - b))]]),
  };
}

/** A singular bytes field: at most once (the wire format's "last one wins" would let two readers disagree). */
function single(fields: ProtobufField[], field: number, name: string): Buffer | undefined {
  const found = repeated(fields, field, name);
  if (found.length > 1) throw malformed(`${name} occurs ${found.length} times`);
  return found[0];
}

function repeated(fields: ProtobufField[], field: number, name: string): Buffer[] {
  const out: Buffer[] = [];
  for (const f of fields) {
    if (f.field !== field) continue;
    if (f.wireType !== 2) throw malformed(`${name} has wire type ${f.wireType}, not length-delimited`);
    out.push(f.value);
  }
  return out;
}

function singleVarint(fields: ProtobufField[], field: number, name: string): number {
  const found = fields.filter((f) => f.field === field);
  if (found.length > 1) throw malformed(`${name} occurs ${found.length} times`);
  const f = found[0];
  if (f === undefined) return 0; // proto3: an absent scalar is zero
  if (f.wireType !== 0) throw malformed(`${name} has wire type ${f.wireType}, not a varint`);
  if (f.value > 0xffffffffn) throw malformed(`${name} is ${f.value}, over 32 bits`);
  return Number(f.value);
}
