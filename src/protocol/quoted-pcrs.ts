import { EV_NO_ACTION } from '../evidence/boot-log/tcg-event-types.js';
import type { TcgLog } from '../evidence/boot-log/tcg-log.js';
import type { MeasurementRegister } from '../tpm/measurement-register.js';
import { BOOT_PCRS } from './run-events.js';

/** The static-OS PCRs a boot log may cover beyond 0–7: GRUB 8/9, shim 14, systemd-stub 11–13, … */
const LAST_BOOT_LOG_PCR = 15;

/**
 * The PCRs 0–15 a boot log extends (in any bank): the quote must cover them for the log's events
 * there to be believed. The run quotes them and the verifier expects exactly them, so a
 * certificate whose log was swapped for one covering other PCRs fails `quote.selection`.
 */
export function bootLogPcrs(log: TcgLog): number[] {
  const pcrs = new Set<number>();
  for (const event of log.events)
    if (event.type !== EV_NO_ACTION && event.pcr <= LAST_BOOT_LOG_PCR) pcrs.add(event.pcr);
  return [...pcrs].sort((a, b) => a - b);
}

/**
 * The SHA-256 PCRs a run's quotes cover, ascending: the boot PCRs 0–7, those a carried boot log
 * extends, and the application PCR when that is the register. `aicert run` quotes these and
 * `aicert verify` requires exactly these.
 */
export function quotedPcrs(register: MeasurementRegister, bootLog: readonly number[] = []): number[] {
  const pcrs = new Set<number>([...BOOT_PCRS, ...bootLog]);
  if (register.kind === 'pcr') pcrs.add(register.pcr);
  return [...pcrs].sort((a, b) => a - b);
}
