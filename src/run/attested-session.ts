import type { Tpm } from '../tpm/client.js';
import { TPM_ALG, TPM_PT_PCR } from '../tpm/constants.js';
import { EnvironmentError } from '../errors.js';
import { eventDigest, makeRecord, type CelRecord } from '../protocol/event-log.js';
import type { RunEvent } from '../protocol/run-events.js';
import { quotedPcrs } from '../protocol/quoted-pcrs.js';
import { attestPcrs, type PcrAttestation } from '../tpm/attest-pcrs.js';
import { AICERT_AK, withAk, type AkSource } from '../tpm/ak-source.js';
import { NvExtendIndex } from '../tpm/nv-extend-index.js';
import type { NvIndexRecorder } from './nv-index-records.js';
import type { QuoteResult } from '../tpm/commands/quote.js';
import type { MeasurementRegister } from '../tpm/measurement-register.js';

/** What `aicert run --register` asks for: a fresh NV extend index (default) or an application PCR. */
export type RegisterChoice = { kind: 'nv' } | { kind: 'pcr'; pcr: number };

/**
 * The TPM side of a run: one measurement register, extended with one CEL record per event,
 * quotes over the boot PCRs (and the application PCR, if that is the register), and for an NV
 * register NV_Certify of its value. The log kept here is exactly what was extended.
 */
export class AttestedSession {
  readonly records: CelRecord<RunEvent>[] = [];
  /** Extends run one at a time, so the log's order is the order the register was extended in. */
  private last: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly tpm: Tpm,
    readonly register: MeasurementRegister,
    /** The run's NV extend index, when that is the register. */
    readonly nv: NvExtendIndex | undefined,
    /** The AK that quotes and certifies (aicert's own, or a vendor's: `aicert ak use`). */
    readonly ak: AkSource,
  ) {}

  /**
   * An NV register is a fresh index (NvExtendIndex.define). A PCR starts from zero: it is reset
   * when the TPM allows that at locality 0; otherwise it must still be zero (a fresh boot of a
   * dedicated image), since the verifier replays from zero.
   */
  static async begin(
    tpm: Tpm,
    choice: RegisterChoice,
    ak: AkSource = AICERT_AK,
    recorder?: NvIndexRecorder,
  ): Promise<AttestedSession> {
    if (choice.kind === 'nv') {
      const nv = await NvExtendIndex.define(tpm, recorder && ((area) => recorder.write(area)));
      return new AttestedSession(tpm, { kind: 'nv', index: nv.index }, nv, ak);
    }
    const pcr = choice.pcr;
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
    return new AttestedSession(tpm, { kind: 'pcr', pcr }, undefined, ak);
  }

  /** Records `content` in the log and extends its digest into the register; returns the digest. */
  extend(content: RunEvent): Promise<Buffer> {
    const next = this.last.then(async () => {
      const record = makeRecord(this.records.length, this.register, content);
      const digest = eventDigest(content);
      if (this.nv) await this.nv.extend(digest);
      else await this.tpm.pcrExtend(this.pcrIndex(), [{ hashAlg: TPM_ALG.SHA256, digest }]);
      this.records.push(record);
      return digest;
    });
    this.last = next.catch(() => undefined);
    return next;
  }

  /**
   * Quotes the boot PCRs, those the carried boot log extends (`bootLogPcrs`), and the application
   * PCR when that is the register, over `qualifyingData`.
   */
  quote(qualifyingData: Buffer, bootLogPcrs: readonly number[] = []): Promise<PcrAttestation> {
    const selection = [{ hashAlg: TPM_ALG.SHA256, pcrs: quotedPcrs(this.register, bootLogPcrs) }];
    return attestPcrs(this.tpm, qualifyingData, selection, this.ak);
  }

  /** NV_Certify of the NV register's value by the AK over `qualifyingData`. */
  async certify(qualifyingData: Buffer): Promise<QuoteResult> {
    const nv = this.nv;
    if (!nv) throw new EnvironmentError('run.register', 'only an NV register is certified with NV_Certify');
    await this.last;
    return withAk(this.tpm, this.ak, ({ handle }) => nv.certify(handle, qualifyingData));
  }

  /** Removes the NV index (the certificate carries everything a verifier needs). */
  async close(): Promise<void> {
    await this.last;
    await this.nv?.undefine();
  }

  private pcrIndex(): number {
    if (this.register.kind !== 'pcr') throw new EnvironmentError('run.register', 'the register is not a PCR');
    return this.register.pcr;
  }
}
