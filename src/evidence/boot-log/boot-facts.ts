import { createHash } from 'node:crypto';
import {
  EV_EFI_BOOT_SERVICES_APPLICATION,
  EV_EFI_VARIABLE_DRIVER_CONFIG,
  EV_IPL,
  EV_SEPARATOR,
  eventTypeName,
} from './tcg-event-types.js';
import { TCG_HASH_ALGS, type TcgEvent } from './tcg-log.js';
import { readImageLoadPath, readUefiVariable } from './uefi-structures.js';

/**
 * What a boot log says about the machine's boot, read from one bank's digests. Facts are only as
 * good as the events they come from: `verifyBootLog` passes only events of PCRs that replay to
 * quoted values. Where an event's data can be hashed to its digest (variables, separators,
 * GRUB's strings) it must be, or the event gives no fact and a problem is recorded; where the
 * digest is of something else (a boot application's Authenticode hash, a file GRUB read), the
 * digest is the fact and the data only a label.
 */
export interface BootFacts {
  /** The bank whose digests the facts are read from. */
  bank: string;
  /** The SecureBoot variable measured into PCR 7; null when the log does not measure it. */
  secureBoot: boolean | null;
  /** PK, KEK, db, dbx as measured into PCR 7: the SHA-256 of each variable's contents. */
  secureBootVariables: Partial<Record<'PK' | 'KEK' | 'db' | 'dbx', { sha256: string; bytes: number }>>;
  /** EV_EFI_BOOT_SERVICES_APPLICATION events (PCR 4): Authenticode digests, in load order. */
  bootApplications: { seq: number; pcr: number; digest: string; path: string | null }[];
  /** GRUB's `kernel_cmdline:` measurements (PCR 8), the kernel path first. */
  kernelCommandLines: string[];
  /** The files GRUB loaded as kernels: PCR 9 events whose path a kernel command line names. */
  kernels: { seq: number; path: string; digest: string }[];
  /** GRUB's `grub_cmd:` measurements (PCR 8): every command it ran. */
  grubCommands: string[];
  /** Files GRUB read (PCR 9 EV_IPL): path (a label) and digest of the contents. */
  grubFiles: { seq: number; path: string; digest: string }[];
  /** What shim measured (PCR 14 EV_IPL: MokList, MokListX, MokSBState, …): name and digest. */
  shim: { seq: number; name: string; digest: string }[];
  /** PCRs with a separator: the end of pre-boot measurements in each. */
  separators: number[];
  /** Events that contradict themselves or the boot order; a verified log must have none. */
  problems: string[];
}

const GRUB_COMMAND = 'grub_cmd: ';
const GRUB_KERNEL_CMDLINE = 'kernel_cmdline: ';
const SECURE_BOOT_VARIABLES = ['PK', 'KEK', 'db', 'dbx'] as const;
/** At most this many problems are listed (one line per problem is enough to act on). */
const MAX_PROBLEMS = 20;

/** Reads the facts from `events` (already narrowed to what is believed) using `bank`'s digests. */
export function extractBootFacts(events: readonly TcgEvent[], bank: string): BootFacts {
  const node = [...TCG_HASH_ALGS.values()].find((a) => a.name === bank)?.node;
  if (!node) throw new RangeError(`cannot hash bank ${bank}`);
  const hash = (data: Buffer) => createHash(node).update(data).digest();
  const facts: BootFacts = {
    bank,
    secureBoot: null,
    secureBootVariables: {},
    bootApplications: [],
    kernelCommandLines: [],
    kernels: [],
    grubCommands: [],
    grubFiles: [],
    shim: [],
    separators: [],
    problems: [],
  };
  const problem: Problem = (event, what) => {
    if (facts.problems.length < MAX_PROBLEMS)
      facts.problems.push(`event ${event.seq} (PCR ${event.pcr}, ${eventTypeName(event.type)}): ${what}`);
    return undefined;
  };
  const seenVariables = new Set<string>();
  for (const event of events) {
    const digest = event.digests.get(bank);
    if (!digest) continue;
    const matches = (data: Buffer) => hash(data).equals(digest);
    if (event.type === EV_SEPARATOR) {
      readSeparator(event, matches, facts, problem);
    } else if (event.type === EV_EFI_VARIABLE_DRIVER_CONFIG && event.pcr === 7) {
      readSecureBootVariable(event, matches, facts, seenVariables, problem);
    } else if (event.type === EV_EFI_BOOT_SERVICES_APPLICATION) {
      const path = readImageLoadPath(event.data) ?? null;
      facts.bootApplications.push({ seq: event.seq, pcr: event.pcr, digest: digest.toString('hex'), path });
    } else if (event.type === EV_IPL && event.pcr === 8) {
      readGrubString(event, matches, facts, problem);
    } else if (event.type === EV_IPL && event.pcr === 9) {
      facts.grubFiles.push({ seq: event.seq, path: cString(event.data), digest: digest.toString('hex') });
    } else if (event.type === EV_IPL && event.pcr === 14) {
      facts.shim.push({ seq: event.seq, name: cString(event.data), digest: digest.toString('hex') });
    }
  }
  const kernelPaths = new Set(facts.kernelCommandLines.map((line) => withoutDevice(line.split(' ', 1)[0]!)));
  facts.kernels = facts.grubFiles.filter((f) => kernelPaths.has(withoutDevice(f.path)));
  facts.separators.sort((a, b) => a - b);
  return facts;
}

type Problem = (event: TcgEvent, what: string) => undefined;

function readSeparator(
  event: TcgEvent,
  matches: (d: Buffer) => boolean,
  facts: BootFacts,
  problem: Problem,
): undefined {
  if (!matches(event.data)) return problem(event, 'its data does not hash to its digest');
  if (facts.separators.includes(event.pcr)) return problem(event, 'a second separator in this PCR');
  if (event.data.length === 4 && event.data.readUInt32LE(0) === 0xffffffff)
    return problem(event, 'an error separator: the firmware reports a failure before boot');
  if (event.data.length !== 4 || event.data.readUInt32LE(0) !== 0)
    return problem(event, `separator data is ${event.data.toString('hex')}, not 00000000`);
  facts.separators.push(event.pcr);
}

function readSecureBootVariable(
  event: TcgEvent,
  matches: (d: Buffer) => boolean,
  facts: BootFacts,
  seen: Set<string>,
  problem: Problem,
): undefined {
  const variable = readUefiVariable(event.data);
  if (!variable) return problem(event, 'its data is not a UEFI_VARIABLE_DATA structure');
  if (!matches(event.data)) return problem(event, `variable ${variable.name}: its data does not hash to its digest`);
  if (facts.separators.includes(7)) return problem(event, `variable ${variable.name} measured after PCR 7's separator`);
  if (seen.has(variable.name)) return problem(event, `variable ${variable.name} measured twice`);
  seen.add(variable.name);
  if (variable.name === 'SecureBoot') {
    // Firmware measures an absent variable with no data: Secure Boot is not enabled.
    if (variable.data.length > 1 || (variable.data.length === 1 && variable.data[0]! > 1))
      return problem(event, `SecureBoot is ${variable.data.toString('hex')}, neither 00 nor 01`);
    facts.secureBoot = variable.data.length === 1 && variable.data[0] === 1;
    return;
  }
  const name = SECURE_BOOT_VARIABLES.find((v) => v === variable.name);
  if (name)
    facts.secureBootVariables[name] = {
      sha256: createHash('sha256').update(variable.data).digest('hex'),
      bytes: variable.data.length,
    };
}

/** GRUB (2.04+) measures each command and the kernel command line as text, the digest over the text alone. */
function readGrubString(
  event: TcgEvent,
  matches: (d: Buffer) => boolean,
  facts: BootFacts,
  problem: Problem,
): undefined {
  const text = cString(event.data);
  for (const [prefix, list] of [
    [GRUB_COMMAND, facts.grubCommands],
    [GRUB_KERNEL_CMDLINE, facts.kernelCommandLines],
  ] as const) {
    if (!text.startsWith(prefix)) continue;
    const body = text.slice(prefix.length);
    if (!matches(Buffer.from(body, 'utf8')))
      return problem(event, `"${prefix.trim()}" text does not hash to its digest`);
    list.push(body);
    return;
  }
}

/** Event text: the data up to its first NUL, as UTF-8. */
function cString(data: Buffer): string {
  const end = data.indexOf(0);
  return data.subarray(0, end < 0 ? data.length : end).toString('utf8');
}

/** A GRUB path without its device, `(hd0,gpt1)/boot/vmlinuz` → `/boot/vmlinuz`. */
function withoutDevice(path: string): string {
  return path.replace(/^\([^)]*\)/, '');
}
