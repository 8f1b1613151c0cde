import type { Tpm } from '../tpm/client.js';
import { TPM_ALG, TPM_PT_PCR } from '../tpm/constants.js';
import { EnvironmentError } from '../errors.js';
import { eventDigest, makeRecord, type CelRecord } from '../protocol/event-log.js';
import { BOOT_PCRS, type RunEvent } from '../protocol/run-events.js';
import { attestPcrs, type PcrAttestation } from '../tpm/attest-pcrs.js';

/**
 * The TPM side of a run: one application PCR, extended with one CEL record per event, and
 * quotes over it and the boot PCRs. The log kept here is exactly what was extended.
 */
export class AttestedSession {
  readonly records: CelRecord<RunEvent>[] = [];
  /** Extends run one at a time, so the log's order is the order the PCR was extended in. */
  private last: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly tpm: Tpm,
    readonly pcr: number,
  ) {}

  /**
   * Starts from a zero PCR: resets it when the TPM allows that at locality 0; otherwise it
   * must still be zero (a fresh boot of a dedicated image), since the verifier replays from zero.
   */
  static async begin(tpm: Tpm, pcr: number): Promise<AttestedSession> {
    const resettable = (await tpm.pcrProperties()).get(TPM_PT_PCR.RESET_L0) ?? [];
    if (resettable.includes(pcr)) {
      await tpm.pcrReset(pcr);
    } else {
      const value = (await tpm.pcrRead(TPM_ALG.SHA256, [pcr])).get(pcr)!;
      if (!value.equals(Buffer.alloc(32))) {
        throw new EnvironmentError(
          'run.pcr-in-use',
          `PCR ${pcr} cannot be reset at locality 0 and was already extended since boot; use a resettable PCR (16 or 23) or a fresh boot`,
        );
      }
    }
    return new AttestedSession(tpm, pcr);
  }

  /** Records `content` in the log and extends its digest into the PCR; returns the digest. */
  extend(content: RunEvent): Promise<Buffer> {
    const next = this.last.then(async () => {
      const record = makeRecord(this.records.length, this.pcr, content);
      const digest = eventDigest(content);
      await this.tpm.pcrExtend(this.pcr, [{ hashAlg: TPM_ALG.SHA256, digest }]);
      this.records.push(record);
      return digest;
    });
    this.last = next.catch(() => undefined);
    return next;
  }

  /** Quotes the boot PCRs and the application PCR over `qualifyingData`. */
  quote(qualifyingData: Buffer): Promise<PcrAttestation> {
    return attestPcrs(this.tpm, qualifyingData, [
      { hashAlg: TPM_ALG.SHA256, pcrs: [...BOOT_PCRS, this.pcr].sort((a, b) => a - b) },
    ]);
  }
}
