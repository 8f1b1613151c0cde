import { extractBootFacts, type BootFacts } from './boot-facts.js';
import { replayTcgLog } from './replay.js';
import { EV_EFI_ACTION, EV_EFI_BOOT_SERVICES_APPLICATION, EV_IPL, eventTypeName } from './tcg-event-types.js';
import { TCG_HASH_ALGS, type TcgEvent, type TcgLog } from './tcg-log.js';
import { readImageLoadPath, readUefiVariable } from './uefi-structures.js';

/**
 * A parsed log as plain JSON (`aicert tpm eventlog --json`): the value each PCR of each bank
 * replays to, every event, and the facts — all as the log claims them, nothing verified
 * (verification needs a quote; see `verifyBootLog`).
 */
export interface BootLogDescription {
  format: TcgLog['format'];
  /** bank → PCR → hex, for every PCR the log extends. */
  pcrs: Record<string, Record<string, string>>;
  events: DescribedEvent[];
  facts: BootFacts | null;
}

export interface DescribedEvent {
  seq: number;
  /** -1 for an EV_NO_ACTION event logged to PCR 0xFFFFFFFF. */
  pcr: number;
  type: string;
  digests: Record<string, string>;
  /** Event data, hex. */
  data: string;
  /** What the data says, where it is text, a UEFI variable or an image path. */
  description?: string;
}

/** The bank facts are read from: SHA-256 when the log has it, else the first bank aicert can hash. */
export function factsBank(log: TcgLog): string | undefined {
  const hashable = log.algorithms.filter((a) => TCG_HASH_ALGS.get(a.id)?.node);
  return (hashable.find((a) => a.name === 'sha256') ?? hashable[0])?.name;
}

export function describeBootLog(log: TcgLog): BootLogDescription {
  const replayed = replayTcgLog(log);
  const pcrs: Record<string, Record<string, string>> = {};
  for (const [bank, values] of replayed.banks)
    pcrs[bank] = Object.fromEntries([...values].map(([pcr, value]) => [String(pcr), value.toString('hex')]));
  const bank = factsBank(log);
  return {
    format: log.format,
    pcrs,
    events: log.events.map(describeEvent),
    facts: bank ? extractBootFacts(log.events, bank) : null,
  };
}

export function describeEvent(event: TcgEvent): DescribedEvent {
  const described: DescribedEvent = {
    seq: event.seq,
    pcr: event.pcr === 0xffffffff ? -1 : event.pcr,
    type: eventTypeName(event.type),
    digests: Object.fromEntries([...event.digests].map(([bank, digest]) => [bank, digest.toString('hex')])),
    data: event.data.toString('hex'),
  };
  const description = describeData(event);
  if (description !== undefined) described.description = description;
  return described;
}

function describeData(event: TcgEvent): string | undefined {
  if (event.type === EV_IPL || event.type === EV_EFI_ACTION) {
    const end = event.data.indexOf(0);
    return event.data.subarray(0, end < 0 ? event.data.length : end).toString('utf8');
  }
  if (event.type === EV_EFI_BOOT_SERVICES_APPLICATION) return readImageLoadPath(event.data);
  if (event.type >>> 0 === 0x80000001 || event.type >>> 0 === 0x80000002 || event.type >>> 0 === 0x800000e0)
    return readUefiVariable(event.data)?.name;
  return undefined;
}
