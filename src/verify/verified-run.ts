import type { Statement } from '../cert/intoto.js';
import type { ProvenancePredicate } from '../cert/provenance.js';
import type { AkTrust } from '../evidence/ak-trust.js';
import type { BootFacts } from '../evidence/boot-log/boot-facts.js';
import type { VerifiedQuote } from '../evidence/quote.js';
import type { VerifiedNvCertify } from '../evidence/nv-certify.js';
import type { MeasurementRegister } from '../tpm/measurement-register.js';
import type { RunEvent } from '../protocol/run-events.js';
import type { RunLog } from '../protocol/run-log.js';

/**
 * What a certificate that verified establishes, for the code that acts on it (`aicert audit`,
 * reports): the run's events as the TPM vouched for them, by role, with the quotes and the
 * attestation key's trust. Only `verifyCertificate` makes one, and only when every check passed;
 * nothing downstream re-parses the certificate.
 */
export interface VerifiedRun extends RunLog {
  /** SHA-256 of the certificate file, hex. */
  certificateSha256: string;
  /** The register the events were replayed onto: the run's NV extend index, or a PCR (`--register pcr23`). */
  register: MeasurementRegister;
  /** The application PCR, when that was the register. */
  pcr?: number;
  /** TPM Name of the attestation key, hex. */
  akName: string;
  akTrust: AkTrust;
  quotes: { start: VerifiedQuote; end: VerifiedQuote };
  /** The NV register's certified values at the commitment and at the end (NV registers only). */
  nvCertifications?: { start: VerifiedNvCertify; end: VerifiedNvCertify };
  /** Every event, in log order. */
  events: RunEvent[];
  /**
   * What the firmware's boot event log says of the boot (`boot.facts`), read only from events of
   * PCRs that replayed to both quotes' values; absent when the certificate carries no boot log.
   */
  boot?: BootFacts;
  /** The signed statement, equal to the one the verified log implies. */
  statement: Statement<ProvenancePredicate>;
}
