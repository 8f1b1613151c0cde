import { createHash } from 'node:crypto';
import { EV_NO_ACTION } from './tcg-event-types.js';
import { TCG_HASH_ALGS, type TcgEvent, type TcgLog } from './tcg-log.js';

/** What the PCRs of each bank hold after the log's events, as the log claims them. */
export interface ReplayedPcrs {
  /** bank name → PCR → value, for every PCR the log extends in a bank aicert can hash. */
  banks: ReadonlyMap<string, ReadonlyMap<number, Buffer>>;
  /** bank name → PCRs with an extending event that lacks that bank's digest (no value for them). */
  incomplete: ReadonlyMap<string, readonly number[]>;
}

const STARTUP_LOCALITY = Buffer.from('StartupLocality\0', 'latin1');

/**
 * Replays a log bank by bank: each PCR starts at its reset value and every event but
 * EV_NO_ACTION extends it, `PCR = H(PCR ‖ digest)`. Reset values: zero, except PCR 0 after a
 * `StartupLocality` EV_NO_ACTION event (its last byte is the locality TPM2_Startup came
 * from, which TPM2_Startup leaves in PCR 0's last byte) and the DRTM PCRs 17–22 (all ones).
 */
export function replayTcgLog(log: TcgLog): ReplayedPcrs {
  const banks = new Map<string, Map<number, Buffer>>();
  const incomplete = new Map<string, number[]>();
  const locality = startupLocality(log.events);
  for (const alg of log.algorithms) {
    const node = TCG_HASH_ALGS.get(alg.id)?.node;
    if (!node) continue;
    const values = new Map<number, Buffer>();
    const missing = new Set<number>();
    for (const event of log.events) {
      if (event.type === EV_NO_ACTION || missing.has(event.pcr)) continue;
      const digest = event.digests.get(alg.name);
      if (!digest) {
        missing.add(event.pcr);
        values.delete(event.pcr);
        continue;
      }
      const current = values.get(event.pcr) ?? resetValue(event.pcr, alg.size, locality);
      values.set(event.pcr, createHash(node).update(current).update(digest).digest());
    }
    banks.set(alg.name, new Map([...values].sort((a, b) => a[0] - b[0])));
    if (missing.size > 0)
      incomplete.set(
        alg.name,
        [...missing].sort((a, b) => a - b),
      );
  }
  return { banks, incomplete };
}

/** The value a PCR holds before the log's first extend of it. */
export function resetValue(pcr: number, size: number, startupLocality: number): Buffer {
  if (pcr >= 17 && pcr <= 22) return Buffer.alloc(size, 0xff);
  const value = Buffer.alloc(size);
  if (pcr === 0) value[size - 1] = startupLocality;
  return value;
}

/** The locality of the log's `StartupLocality` EV_NO_ACTION event in PCR 0, else 0. */
function startupLocality(events: readonly TcgEvent[]): number {
  const event = events.find(
    (e) =>
      e.pcr === 0 &&
      e.type === EV_NO_ACTION &&
      e.data.length === STARTUP_LOCALITY.length + 1 &&
      e.data.subarray(0, STARTUP_LOCALITY.length).equals(STARTUP_LOCALITY),
  );
  return event ? event.data[STARTUP_LOCALITY.length]! : 0;
}
