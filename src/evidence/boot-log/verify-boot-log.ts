import { VerificationError } from '../../errors.js';
import { extractBootFacts, type BootFacts } from './boot-facts.js';
import { replayTcgLog } from './replay.js';
import { EV_NO_ACTION } from './tcg-event-types.js';
import type { TcgEvent, TcgLog } from './tcg-log.js';

/** A boot log checked against quoted PCRs: only what the quote vouches for. */
export interface VerifiedBootLog {
  /** The bank the log was replayed in (the quote's). */
  bank: string;
  /** The quoted PCRs the log extends, each replayed to its quoted value. */
  pcrs: number[];
  /** The events of those PCRs, in log order; events of PCRs the quote does not cover are dropped. */
  events: TcgEvent[];
  facts: BootFacts;
}

/**
 * Replays `log` in `bank` and compares every PCR it extends that the quote covers with the quoted
 * value, as go-attestation's `EventLog.Verify` does: an event is believed only when its PCR
 * replays to a quoted value. Any quoted PCR that does not replay fails the whole log
 * (`VerificationError('boot.eventlog')`): a log that lies about one PCR is not trusted about
 * another. Then the facts are read from the believed events; an event whose data contradicts its
 * digest, or a separator out of place, fails `boot.facts`.
 *
 * `quoted` must come from a verified quote.
 */
export function verifyBootLog(log: TcgLog, quoted: ReadonlyMap<number, Buffer>, bank = 'sha256'): VerifiedBootLog {
  if (!log.algorithms.some((a) => a.name === bank))
    throw new VerificationError(
      'boot.eventlog',
      `the boot event log has no ${bank} digests (it declares ${log.algorithms.map((a) => a.name).join(', ')}); the quote is over ${bank}`,
    );
  const replayed = replayTcgLog(log);
  const values = replayed.banks.get(bank) ?? new Map<number, Buffer>();
  const lacking = new Set(replayed.incomplete.get(bank) ?? []);
  const extended = new Set(log.events.filter((e) => e.type !== EV_NO_ACTION).map((e) => e.pcr));
  const verified: number[] = [];
  const wrong: string[] = [];
  for (const pcr of [...extended].sort((a, b) => a - b)) {
    const want = quoted.get(pcr);
    if (!want) continue;
    if (lacking.has(pcr)) {
      wrong.push(`PCR ${pcr} has events without a ${bank} digest`);
      continue;
    }
    const got = values.get(pcr)!;
    if (got.equals(want)) verified.push(pcr);
    else wrong.push(`PCR ${pcr} replays to ${got.toString('hex')}, the quote says ${want.toString('hex')}`);
  }
  if (wrong.length > 0)
    throw new VerificationError(
      'boot.eventlog',
      `the boot event log does not replay to the quoted PCRs: ${wrong.join('; ')}`,
    );
  const believed = new Set(verified);
  const events = log.events.filter((e) => believed.has(e.pcr));
  const facts = extractBootFacts(events, bank);
  if (facts.problems.length > 0)
    throw new VerificationError('boot.facts', `the boot event log contradicts itself: ${facts.problems.join('; ')}`);
  return { bank, pcrs: verified, events, facts };
}
