import { createHash } from 'node:crypto';
import {
  EV_EFI_BOOT_SERVICES_APPLICATION,
  EV_EFI_VARIABLE_DRIVER_CONFIG,
  EV_IPL,
  EV_NO_ACTION,
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
 *
 * An event's type is a label too (no digest covers it), and so is the `grub_cmd: ` or
 * `kernel_cmdline: ` prefix of GRUB's strings (the digest is over the text after it). So the
 * facts policies judge do not depend on them: every PCR 4 event whose digest is not the hash of
 * its data counts as a boot application, whatever its type; kernel command lines are recognised
 * by their text; and a PCR 8 event that is no GRUB string hashing to its digest is listed in
 * `unreadCommandEvents`, so that a command line cannot hide in it.
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
  /**
   * Kernel command lines GRUB measured (PCR 8), the kernel path first: its `kernel_cmdline:`
   * strings and the text of its `linux`, `linuxefi` and `linux16` commands, recognised by the
   * text alone (a string starting with a path is a command line whatever its prefix says).
   */
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
  /**
   * PCR 8 events (by number) whose data is no GRUB string that hashes to their digest: the
   * digest could be of a command line the log does not show (systemd-boot's UTF-16 one, or one
   * whose text was replaced). Absent means none.
   */
  unreadCommandEvents?: number[];
  /** Events that contradict themselves or the boot order; a verified log must have none. */
  problems: string[];
}

/**
 * The prefixes of GRUB's strings: upstream GRUB 2.04+ (`grub_cmd: `, the digest over the text)
 * and Red Hat's earlier patch (`grub_cmd `, `grub_kernel_cmdline `, the digest over the text and
 * its NUL). Which one an event carries is a label: the text decides what it is.
 */
const GRUB_PREFIXES = ['grub_cmd: ', 'kernel_cmdline: ', 'grub_cmd ', 'grub_kernel_cmdline '];
const GRUB_COMMAND_PREFIXES = new Set(['grub_cmd: ', 'grub_cmd ']);
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
  const unread: number[] = [];
  for (const event of events) {
    const digest = event.digests.get(bank);
    // EV_NO_ACTION events extend nothing: no PCR covers their digest or data, so they say nothing.
    if (!digest || event.type === EV_NO_ACTION) continue;
    const matches = (data: Buffer) => hash(data).equals(digest);
    // PCR 4 holds the boot manager's code: an event there whose digest is no hash of its data is
    // an image, whatever type the log gives it (a type is not covered by the digest).
    if (event.pcr === 4 && event.type !== EV_EFI_BOOT_SERVICES_APPLICATION && !matches(event.data))
      facts.bootApplications.push({ seq: event.seq, pcr: 4, digest: digest.toString('hex'), path: null });
    if (event.pcr === 8 && !readGrubString(event, matches, facts, problem)) unread.push(event.seq);
    if (event.type === EV_SEPARATOR) {
      readSeparator(event, matches, facts, problem);
    } else if (event.type === EV_EFI_VARIABLE_DRIVER_CONFIG && event.pcr === 7) {
      readSecureBootVariable(event, matches, facts, seenVariables, problem);
    } else if (event.type === EV_EFI_BOOT_SERVICES_APPLICATION) {
      const path = readImageLoadPath(event.data) ?? null;
      facts.bootApplications.push({ seq: event.seq, pcr: event.pcr, digest: digest.toString('hex'), path });
    } else if (event.type === EV_IPL && event.pcr === 9) {
      facts.grubFiles.push({ seq: event.seq, path: cString(event.data), digest: digest.toString('hex') });
    } else if (event.type === EV_IPL && event.pcr === 14) {
      facts.shim.push({ seq: event.seq, name: cString(event.data), digest: digest.toString('hex') });
    }
  }
  if (unread.length > 0) facts.unreadCommandEvents = unread;
  facts.kernelCommandLines = [...new Set(facts.kernelCommandLines)];
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

/**
 * GRUB (2.04+) measures each command and the kernel command line as text, the digest over the
 * text alone. True when the event is such a string and its text hashes to its digest.
 */
function readGrubString(event: TcgEvent, matches: (d: Buffer) => boolean, facts: BootFacts, problem: Problem): boolean {
  const text = cString(event.data);
  const prefix = GRUB_PREFIXES.find((p) => text.startsWith(p));
  if (!prefix) return false;
  const body = text.slice(prefix.length);
  const bytes = Buffer.from(body, 'utf8');
  if (!matches(bytes) && !matches(Buffer.concat([bytes, Buffer.alloc(1)]))) {
    problem(event, `"${prefix.trim()}" text does not hash to its digest`);
    return false;
  }
  if (GRUB_COMMAND_PREFIXES.has(prefix)) facts.grubCommands.push(body);
  const commandLine = kernelCommandLine(body);
  if (commandLine !== undefined) facts.kernelCommandLines.push(commandLine);
  return true;
}

/** GRUB's commands that load a Linux kernel; their arguments are its path and command line. */
const LINUX_LOADERS = new Set(['linux', 'linuxefi', 'linux16']);

/** The kernel command line a GRUB string is, judged by its text: a path first, or a `linux` command. */
function kernelCommandLine(body: string): string | undefined {
  if (body.startsWith('/') || body.startsWith('(')) return body;
  const [word, rest] = [body.slice(0, body.indexOf(' ')), body.slice(body.indexOf(' ') + 1).trimStart()];
  return body.includes(' ') && LINUX_LOADERS.has(word) && rest.length > 0 ? rest : undefined;
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
