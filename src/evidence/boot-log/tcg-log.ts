import { InputError } from '../../errors.js';
import { eventTypeName, EV_NO_ACTION } from './tcg-event-types.js';

/**
 * The TCG PC Client Platform Firmware Profile binary event log (the firmware's log of what it
 * measured into PCRs 0–15, `/sys/kernel/security/tpm0/binary_bios_measurements`), parsed into
 * untrusted events. Nothing here is believed: `verifyBootLog` keeps only the events of PCRs
 * whose replay equals a quoted value.
 *
 * Two formats, both little-endian:
 * - crypto-agile (TPM 2.0): a first TCG_PCR_EVENT (SHA-1 layout) of type EV_NO_ACTION whose
 *   data is the Spec ID event ("Spec ID Event03\0", the algorithms and their digest sizes), then
 *   TCG_PCR_EVENT2 records: `pcr u32, type u32, count u32, {alg u16, digest}[count], size u32, data`;
 * - legacy SHA-1 (TPM 1.2 firmware): TCG_PCR_EVENT records only: `pcr u32, type u32,
 *   digest[20], size u32, data`.
 *
 * Bounded: the log's size is limited before parsing, every count and length is checked against
 * the bytes left before anything is allocated, events are views into the input (no copies),
 * and the parse is one linear pass.
 */

/** Larger than any firmware log seen (tens of KiB); bounds memory and time of a parse. */
export const MAX_BOOT_LOG_BYTES = 16 * 1024 * 1024;
/** At most this many events: real logs hold hundreds; parsing this many takes well under a second. */
export const MAX_BOOT_LOG_EVENTS = 65_536;
/** PCRs a firmware log may extend: 0–23 (the TPM has no more in the PC Client profile). */
const MAX_PCR = 23;
/** The Spec ID event lists at most this many algorithms (a TPM has a handful of banks). */
const MAX_SPEC_ALGORITHMS = 16;

/** TPM_ALG_ID → the bank name tpm2-tools uses, and the digest size the spec fixes. */
export const TCG_HASH_ALGS: ReadonlyMap<number, { name: string; size: number; node?: string }> = new Map([
  [0x0004, { name: 'sha1', size: 20, node: 'sha1' }],
  [0x000b, { name: 'sha256', size: 32, node: 'sha256' }],
  [0x000c, { name: 'sha384', size: 48, node: 'sha384' }],
  [0x000d, { name: 'sha512', size: 64, node: 'sha512' }],
  [0x0012, { name: 'sm3_256', size: 32 }],
]);

export interface TcgAlgorithm {
  /** TPM_ALG_ID. */
  id: number;
  /** The bank's name (`sha256`), or `0xHHHH` for an algorithm aicert does not know. */
  name: string;
  /** The digest size the Spec ID event declares. */
  size: number;
}

/** One record of the log, as the log claims it. */
export interface TcgEvent {
  /** Position in the log, 0 for the first record (the Spec ID event in a crypto-agile log). */
  seq: number;
  /** The PCR the event claims it extended. */
  pcr: number;
  /** The event type (EV_*). */
  type: number;
  /** Digests by bank name; an event may lack a bank. */
  digests: ReadonlyMap<string, Buffer>;
  /** The event data (a view into the log bytes). */
  data: Buffer;
}

/** A parsed log; every field is a claim until `verifyBootLog`. */
export interface TcgLog {
  format: 'crypto-agile' | 'sha1';
  /** The banks the log carries digests for, as its Spec ID event declares (SHA-1 alone for legacy logs). */
  algorithms: readonly TcgAlgorithm[];
  /** Every record in log order, the Spec ID event included (it extends nothing). */
  events: readonly TcgEvent[];
}

const SPEC_ID_SIGNATURE = Buffer.from('Spec ID Event03\0', 'latin1');

/**
 * Parses a TCG binary event log. Malformed bytes raise `InputError('bootlog.malformed')` naming
 * the record and field at fault and its byte offset.
 */
export function parseTcgLog(bytes: Uint8Array): TcgLog {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length > MAX_BOOT_LOG_BYTES)
    throw malformed(`it is ${buf.length} bytes, over the ${MAX_BOOT_LOG_BYTES}-byte limit`);
  if (buf.length === 0) throw malformed('it is empty');
  const reader = new LogReader(buf);
  const first = readSha1Event(reader, 0);
  const specId = first.type === EV_NO_ACTION && first.pcr === 0 ? parseSpecIdEvent(first.data) : undefined;
  const events: TcgEvent[] = [first];
  const algorithms = specId ?? [{ id: 0x0004, name: 'sha1', size: 20 }];
  while (reader.remaining() > 0) {
    if (events.length >= MAX_BOOT_LOG_EVENTS) throw malformed(`it has more than ${MAX_BOOT_LOG_EVENTS} events`);
    const seq = events.length;
    events.push(specId ? readEvent2(reader, seq, specId) : readSha1Event(reader, seq));
  }
  return { format: specId ? 'crypto-agile' : 'sha1', algorithms, events };
}

function malformed(detail: string): InputError {
  return new InputError('bootlog.malformed', `not a TCG binary event log: ${detail}`);
}

/** A cursor over the log bytes that refuses to read past the end. */
class LogReader {
  private offset = 0;
  constructor(private readonly buf: Buffer) {}

  remaining(): number {
    return this.buf.length - this.offset;
  }

  position(): number {
    return this.offset;
  }

  private need(n: number, what: string): void {
    if (n > this.remaining())
      throw malformed(`${what} at byte ${this.offset} needs ${n} bytes, ${this.remaining()} are left`);
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.buf.readUInt16LE(this.offset);
    this.offset += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32LE(this.offset);
    this.offset += 4;
    return v;
  }

  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const v = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }
}

/** Windows logs some EV_NO_ACTION events (which extend nothing) to PCR 0xFFFFFFFF. */
const NO_PCR = 0xffffffff;

function readPcrAndType(reader: LogReader, seq: number): { pcr: number; type: number } {
  const at = reader.position();
  const pcr = reader.u32(`event ${seq}: PCR index`);
  const type = reader.u32(`event ${seq}: event type`);
  if (pcr > MAX_PCR && !(pcr === NO_PCR && type === EV_NO_ACTION))
    throw malformed(`event ${seq} at byte ${at} names PCR ${pcr}, beyond ${MAX_PCR}`);
  return { pcr, type };
}

/** TCG_PCR_EVENT: the legacy layout, also the crypto-agile log's first record. */
function readSha1Event(reader: LogReader, seq: number): TcgEvent {
  const { pcr, type } = readPcrAndType(reader, seq);
  const digest = reader.bytes(20, `event ${seq}: SHA-1 digest`);
  const size = reader.u32(`event ${seq}: event size`);
  const data = reader.bytes(size, `event ${seq} (${eventTypeName(type)}): event data`);
  return { seq, pcr, type, digests: new Map([['sha1', digest]]), data };
}

/** TCG_PCR_EVENT2: digests of the banks the Spec ID event declared, each at most once. */
function readEvent2(reader: LogReader, seq: number, algorithms: readonly TcgAlgorithm[]): TcgEvent {
  const { pcr, type } = readPcrAndType(reader, seq);
  const count = reader.u32(`event ${seq}: digest count`);
  if (count > algorithms.length)
    throw malformed(`event ${seq} has ${count} digests, the log declares ${algorithms.length} algorithms`);
  const digests = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const id = reader.u16(`event ${seq}: digest ${i} algorithm`);
    const alg = algorithms.find((a) => a.id === id);
    if (!alg)
      throw malformed(`event ${seq} has a digest of algorithm 0x${hex4(id)}, which the Spec ID event does not declare`);
    if (digests.has(alg.name)) throw malformed(`event ${seq} has two ${alg.name} digests`);
    digests.set(alg.name, reader.bytes(alg.size, `event ${seq}: ${alg.name} digest`));
  }
  const size = reader.u32(`event ${seq}: event size`);
  const data = reader.bytes(size, `event ${seq} (${eventTypeName(type)}): event data`);
  return { seq, pcr, type, digests, data };
}

/**
 * TCG_EfiSpecIDEvent: signature, platformClass u32, specVersionMinor u8, specVersionMajor u8,
 * specErrata u8, uintnSize u8, numberOfAlgorithms u32, {algorithmId u16, digestSize u16}[],
 * vendorInfoSize u8, vendorInfo. Returns undefined when the data is not a Spec ID event (a
 * legacy log whose first record is some other EV_NO_ACTION).
 */
function parseSpecIdEvent(data: Buffer): TcgAlgorithm[] | undefined {
  if (data.length < SPEC_ID_SIGNATURE.length || !data.subarray(0, 16).equals(SPEC_ID_SIGNATURE)) return undefined;
  const r = new LogReader(data);
  r.bytes(16, 'Spec ID event: signature');
  r.u32('Spec ID event: platform class');
  const minor = r.bytes(1, 'Spec ID event: version')[0]!;
  const major = r.bytes(1, 'Spec ID event: version')[0]!;
  r.bytes(2, 'Spec ID event: errata and uintn size');
  if (major !== 2) throw malformed(`the Spec ID event has version ${major}.${minor}, not 2.x (crypto-agile)`);
  const count = r.u32('Spec ID event: number of algorithms');
  if (count === 0 || count > MAX_SPEC_ALGORITHMS)
    throw malformed(`the Spec ID event declares ${count} algorithms (1 to ${MAX_SPEC_ALGORITHMS} are allowed)`);
  const algorithms: TcgAlgorithm[] = [];
  for (let i = 0; i < count; i++) {
    const id = r.u16(`Spec ID event: algorithm ${i}`);
    const size = r.u16(`Spec ID event: algorithm ${i} digest size`);
    const known = TCG_HASH_ALGS.get(id);
    if (known && known.size !== size)
      throw malformed(`the Spec ID event gives ${known.name} digests ${size} bytes, not ${known.size}`);
    if (size === 0 || size > 64)
      throw malformed(`the Spec ID event gives algorithm 0x${hex4(id)} ${size}-byte digests`);
    if (algorithms.some((a) => a.id === id))
      throw malformed(`the Spec ID event declares algorithm 0x${hex4(id)} twice`);
    algorithms.push({ id, name: known?.name ?? `0x${hex4(id)}`, size });
  }
  const vendorSize = r.bytes(1, 'Spec ID event: vendor info size')[0]!;
  r.bytes(vendorSize, 'Spec ID event: vendor info');
  if (r.remaining() !== 0) throw malformed(`the Spec ID event has ${r.remaining()} bytes after its vendor info`);
  return algorithms;
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
