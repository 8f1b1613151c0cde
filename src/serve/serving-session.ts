import type { Tpm } from '../tpm/client.js';
import { TPM_ALG } from '../tpm/constants.js';
import { attestPcrs } from '../tpm/attest-pcrs.js';
import { createAk } from '../tpm/keys.js';
import { NvExtendIndex, writtenPublic } from '../tpm/nv-extend-index.js';
import { marshalNvPublic, nvName } from '../tpm/nv-public.js';
import { eventDigest, makeRecord, type CelRecord } from '../protocol/event-log.js';
import { BOOT_PCRS } from '../protocol/run-events.js';
import type { ServeEvent, ServeSessionEvent } from '../protocol/serve-events.js';
import { encodeBase64 } from '../util/base64.js';
import { AICERT_VERSION } from '../version.js';

/** The TPM evidence of one attestation, as the attestation document carries it. */
export interface TpmAttestationJson {
  quote: { attest: string; signature: string; pcrs: { sha256: Record<string, string> } };
  nvCertification: { attest: string; signature: string };
}

/**
 * The TPM side of a serving session: a fresh NV extend index that only this process can write
 * (NvExtendIndex), extended once per event while the session opens and never again; then, for
 * every attestation, a quote of the boot PCRs and an NV_Certify of the index, both over the
 * qualifying data asked for. TPM commands run one at a time.
 */
export class ServingSession {
  readonly records: CelRecord<ServeEvent>[] = [];
  private last: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly tpm: Tpm,
    private readonly nv: NvExtendIndex,
    readonly session: ServeSessionEvent,
  ) {}

  static async open(tpm: Tpm, akName: Buffer): Promise<ServingSession> {
    const nv = await NvExtendIndex.define(tpm);
    const session: ServeSessionEvent = {
      type: 'serve-session',
      sessionId: (await tpm.getRandom(16)).toString('hex'),
      nonce: (await tpm.getRandom(32)).toString('hex'),
      startedAt: new Date().toISOString(),
      nvIndex: nv.index,
      nvName: nvName(writtenPublic(nv.definedPublic)).toString('hex'),
      akName: akName.toString('hex'),
      aicertVersion: AICERT_VERSION,
    };
    const opened = new ServingSession(tpm, nv, session);
    try {
      await opened.extend(session);
    } catch (err) {
      await opened.close().catch(() => undefined);
      throw err;
    }
    return opened;
  }

  /** TPMS_NV_PUBLIC of the index as written, base64. */
  get nvPublic(): string {
    return encodeBase64(marshalNvPublic(writtenPublic(this.nv.definedPublic)));
  }

  async extend(content: ServeEvent): Promise<Buffer> {
    return this.serialized(async () => {
      const digest = eventDigest(content);
      await this.nv.extend(digest);
      this.records.push(makeRecord(this.records.length, { kind: 'nv', index: this.nv.index }, content));
      return digest;
    });
  }

  /** A quote of the boot PCRs and an NV_Certify of the register, both over `qualifyingData`. */
  attest(qualifyingData: Buffer): Promise<TpmAttestationJson> {
    return this.serialized(async () => {
      const q = await attestPcrs(this.tpm, qualifyingData, [{ hashAlg: TPM_ALG.SHA256, pcrs: [...BOOT_PCRS] }]);
      const ak = await createAk(this.tpm);
      const c = await this.tpm.withTransient(ak.handle, (handle) => this.nv.certify(handle, qualifyingData));
      const sha256 = q.pcrs.get(TPM_ALG.SHA256)!;
      return {
        quote: {
          attest: encodeBase64(q.attest),
          signature: encodeBase64(q.signature),
          pcrs: { sha256: Object.fromEntries([...sha256].map(([pcr, v]) => [String(pcr), v.toString('hex')])) },
        },
        nvCertification: { attest: encodeBase64(c.attest), signature: encodeBase64(c.signature) },
      };
    });
  }

  /** Removes the index: the session ends with its process, and nothing can be attested after. */
  async close(): Promise<void> {
    await this.last;
    await this.nv.undefine();
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = this.last.then(work);
    this.last = next.catch(() => undefined);
    return next;
  }
}
