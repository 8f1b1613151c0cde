import { InputError, VerificationError } from '../errors.js';
import type { BootFacts } from '../evidence/boot-log/boot-facts.js';
import { parseTcgLog, type TcgLog } from '../evidence/boot-log/tcg-log.js';
import { verifyBootLog, type VerifiedBootLog } from '../evidence/boot-log/verify-boot-log.js';
import type { VerifiedQuote } from '../evidence/quote.js';
import { bootLogPcrs } from '../protocol/quoted-pcrs.js';
import { TPM_ALG } from '../tpm/constants.js';
import { decodeBase64Strict } from '../util/base64.js';

export const NO_BOOT_LOG = 'the certificate carries no boot event log (a software TPM, or none was found)';

/** The certificate's boot log, parsed (untrusted), and the PCRs it extends, which the quotes must cover. */
export function parseCarriedBootLog(base64: string): { log: TcgLog; pcrs: number[] } {
  try {
    const log = parseTcgLog(decodeBase64Strict(base64, 'bootLog'));
    return { log, pcrs: bootLogPcrs(log) };
  } catch (err) {
    if (err instanceof InputError) throw new InputError('bootlog.format', `the boot event log: ${err.message}`);
    throw err;
  }
}

/**
 * The boot log against both verified quotes: the PCRs it extends must replay to the start
 * quote's values, and hold the same values at the end (one boot; nothing extended them during
 * the run that the log does not show).
 */
export function checkCarriedBootLog(log: TcgLog, start: VerifiedQuote, end: VerifiedQuote): VerifiedBootLog {
  const startPcrs = start.pcrs.get(TPM_ALG.SHA256)!;
  const endPcrs = end.pcrs.get(TPM_ALG.SHA256)!;
  const verified = verifyBootLog(log, startPcrs);
  const changed = verified.pcrs.filter((pcr) => !startPcrs.get(pcr)!.equals(endPcrs.get(pcr)!));
  if (changed.length > 0)
    throw new VerificationError(
      'boot.eventlog',
      `PCRs ${changed.join(', ')} changed during the run, so the boot event log no longer accounts for them`,
    );
  return verified;
}

export function describeBootFacts(facts: BootFacts): string {
  const sb = facts.secureBoot === null ? 'not measured' : facts.secureBoot ? 'on' : 'off';
  const kernels = facts.kernels.map((k) => k.path).join(', ') || 'none named';
  return `Secure Boot ${sb}; ${facts.bootApplications.length} boot applications; kernel ${kernels}; separators in PCRs ${facts.separators.join(', ') || 'none'}`;
}
