import { randomBytes } from 'node:crypto';
import { TPMA_NV, TPM_CAP, TPM_PT, TPM_RH, TPM_SE, TPM_SU } from './constants.js';
import { decodeResponse, encodeCommand, type TpmCommand } from './command.js';
import { parseTpmAddress, type TpmAddress } from './address.js';
import type { TpmTransport } from './transport/transport.js';
import { DeviceTransport } from './transport/device.js';
import { SwtpmSocketTransport } from './transport/swtpm-socket.js';
import { SwtpmControl } from './transport/swtpm-control.js';
import { TpmResponseError } from './response-code.js';
import type { PcrSelection } from './pcr-selection.js';
import type { TpmPublic } from './public.js';
import { startup } from './commands/startup.js';
import { getCapability, type CapabilityData } from './commands/get-capability.js';
import { getRandom } from './commands/get-random.js';
import { pcrRead } from './commands/pcr-read.js';
import { pcrExtend, type TaggedDigest } from './commands/pcr-extend.js';
import { pcrReset } from './commands/pcr-reset.js';
import { createPrimary, type LoadedObject } from './commands/create-primary.js';
import { readPublic } from './commands/read-public.js';
import { nvReadPublic, type NvPublic } from './commands/nv-read-public.js';
import { nvRead } from './commands/nv-read.js';
import { quote, type QuoteResult } from './commands/quote.js';
import { flushContext } from './commands/flush-context.js';
import { startAuthSession } from './commands/start-auth-session.js';
import { policySecret } from './commands/policy-secret.js';
import { activateCredential } from './commands/activate-credential.js';
import { TpmFormatError } from './marshal.js';

const TPM_RC_INITIALIZE = 0x100;
/** TPM_RC_YIELDED, TPM_RC_TESTING, TPM_RC_RETRY: warnings that mean "send it again". */
const RETRYABLE = new Set([0x908, 0x90a, 0x922]);
const MAX_ATTEMPTS = 5;

/**
 * A TPM 2.0, reached through one transport. Commands are serialized: one in flight at a time.
 * Transient objects and sessions are the caller's to flush; `withTransient` makes that certain.
 */
export class Tpm {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly transport: TpmTransport,
    /** swtpm's control channel, when the TPM is a swtpm. */
    readonly control: SwtpmControl | undefined,
  ) {}

  /** Opens the TPM at `address` and makes sure it has been started up. */
  static async open(address: string | TpmAddress = 'auto'): Promise<Tpm> {
    const a = typeof address === 'string' ? parseTpmAddress(address) : address;
    const tpm =
      a.kind === 'device'
        ? new Tpm(await DeviceTransport.open(a.path), undefined)
        : new Tpm(new SwtpmSocketTransport(a.data), new SwtpmControl(a.control));
    try {
      await tpm.startup();
    } catch (err) {
      await tpm.close();
      throw err;
    }
    return tpm;
  }

  get description(): string {
    return this.transport.description;
  }

  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    await this.transport.close();
  }

  /**
   * Runs one command; the engine marshals it and checks the response strictly. The TPM may
   * answer TPM_RC_RETRY, YIELDED or TESTING when it is busy: the command is sent again a few
   * times, as the specification expects callers to.
   */
  execute<R>(cmd: TpmCommand<R>): Promise<R> {
    const run = async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return decodeResponse(cmd, await this.transport.send(encodeCommand(cmd)));
        } catch (err) {
          if (!(err instanceof TpmResponseError && RETRYABLE.has(err.responseCode)) || attempt >= MAX_ATTEMPTS)
            throw err;
          await new Promise((r) => setTimeout(r, 20 * attempt));
        }
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Startup(CLEAR), treating "already started" as success. */
  async startup(type: number = TPM_SU.CLEAR): Promise<void> {
    try {
      await this.execute(startup(type));
    } catch (err) {
      if (!(err instanceof TpmResponseError && err.responseCode === TPM_RC_INITIALIZE)) throw err;
    }
  }

  /** Power cycle (swtpm only): control-channel INIT, then Startup(CLEAR). */
  async powerCycle(): Promise<void> {
    if (!this.control) throw new TpmFormatError('power cycle needs a swtpm control channel');
    await this.control.init();
    await this.execute(startup(TPM_SU.CLEAR));
  }

  async getCapability(capability: number, property: number, count: number): Promise<CapabilityData[]> {
    const pages: CapabilityData[] = [];
    let next = property;
    for (let page = 0; page < 64; page++) {
      const { moreData, data } = await this.execute(getCapability(capability, next, count));
      pages.push(data);
      if (!moreData) return pages;
      const last = lastProperty(data);
      if (last === undefined) return pages;
      next = last + 1;
    }
    return pages;
  }

  /** Fixed TPM properties (manufacturer, firmware, limits) as a map from TPM_PT to value. */
  async properties(first: number = TPM_PT.FAMILY_INDICATOR, count = 64): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    for (const page of await this.getCapability(TPM_CAP.TPM_PROPERTIES, first, count)) {
      if (page.capability === TPM_CAP.TPM_PROPERTIES) for (const [k, v] of page.properties) out.set(k, v);
    }
    return out;
  }

  /** The allocated PCR banks (banks with an empty selection are left out). */
  async pcrBanks(): Promise<PcrSelection[]> {
    const out: PcrSelection[] = [];
    for (const page of await this.getCapability(TPM_CAP.PCRS, 0, 1)) {
      if (page.capability === TPM_CAP.PCRS) out.push(...page.banks.filter((b) => b.pcrs.length > 0));
    }
    return out;
  }

  /** PCR attributes (TPM_PT_PCR_* → PCR indices), e.g. which PCRs are resettable at locality 0. */
  async pcrProperties(): Promise<Map<number, number[]>> {
    const out = new Map<number, number[]>();
    for (const page of await this.getCapability(TPM_CAP.PCR_PROPERTIES, 0, 32)) {
      if (page.capability === TPM_CAP.PCR_PROPERTIES) for (const [k, v] of page.pcrProperties) out.set(k, v);
    }
    return out;
  }

  getRandom(bytes: number): Promise<Buffer> {
    return this.execute(getRandom(bytes));
  }

  /**
   * Reads PCRs of one bank. A TPM returns at most 8 digests per call, so this loops until
   * every requested PCR has been answered.
   */
  async pcrRead(hashAlg: number, pcrs: number[]): Promise<Map<number, Buffer>> {
    const values = new Map<number, Buffer>();
    let pending = [...new Set(pcrs)].sort((a, b) => a - b);
    while (pending.length > 0) {
      const result = await this.execute(pcrRead([{ hashAlg, pcrs: pending }]));
      let i = 0;
      for (const s of result.selection) {
        for (const pcr of s.pcrs) {
          const digest = result.digests[i++]!;
          if (s.hashAlg === hashAlg && pending.includes(pcr)) values.set(pcr, digest);
        }
      }
      const before = pending.length;
      pending = pending.filter((p) => !values.has(p));
      if (pending.length === before) {
        throw new TpmFormatError(`PCR_Read answered none of PCRs ${pending.join(',')}: is that bank allocated?`);
      }
    }
    return values;
  }

  pcrExtend(pcr: number, digests: TaggedDigest[]): Promise<void> {
    return this.execute(pcrExtend(pcr, digests));
  }

  pcrReset(pcr: number): Promise<void> {
    return this.execute(pcrReset(pcr));
  }

  createPrimary(hierarchy: number, template: TpmPublic | Uint8Array, label: string): Promise<LoadedObject> {
    return this.execute(createPrimary(hierarchy, template, label));
  }

  readPublic(handle: number) {
    return this.execute(readPublic(handle));
  }

  nvReadPublic(index: number): Promise<NvPublic> {
    return this.execute(nvReadPublic(index));
  }

  /**
   * Reads a whole NV index in chunks of at most TPM_PT_NV_BUFFER_MAX bytes (or `maxChunk`,
   * if smaller). An index readable only by the owner (OWNERREAD without AUTHREAD, as the cloud
   * vendors define their AK certificate indices) is read with the owner's empty password.
   */
  async nvRead(index: number, maxChunk = Number.POSITIVE_INFINITY): Promise<Buffer> {
    const { dataSize, attributes } = await this.nvReadPublic(index);
    const ownerOnly = (attributes & TPMA_NV.AUTHREAD) === 0 && (attributes & TPMA_NV.OWNERREAD) !== 0;
    const authHandle = ownerOnly ? TPM_RH.OWNER : index;
    const tpmMax = (await this.properties(TPM_PT.NV_BUFFER_MAX, 1)).get(TPM_PT.NV_BUFFER_MAX) ?? 512;
    const chunkMax = Math.min(tpmMax, maxChunk);
    const chunks: Buffer[] = [];
    for (let offset = 0; offset < dataSize; ) {
      const size = Math.min(chunkMax, dataSize - offset);
      chunks.push(await this.execute(nvRead(index, size, offset, authHandle)));
      offset += size;
    }
    return Buffer.concat(chunks);
  }

  quote(signHandle: number, qualifyingData: Uint8Array, selections: PcrSelection[]): Promise<QuoteResult> {
    return this.execute(quote(signHandle, qualifyingData, selections));
  }

  flushContext(handle: number): Promise<void> {
    return this.execute(flushContext(handle));
  }

  /** A policy session whose policy is PolicySecret(endorsement): what the TCG EK templates require. */
  async startEkPolicySession(): Promise<number> {
    const { handle } = await this.execute(startAuthSession(TPM_SE.POLICY, randomBytes(16)));
    try {
      await this.execute(policySecret(TPM_RH.ENDORSEMENT, handle));
    } catch (err) {
      await this.flushContext(handle).catch(() => undefined);
      throw err;
    }
    return handle;
  }

  /**
   * Releases a credential made for `activateHandle`'s Name to the EK at `ekHandle`.
   * The EK policy session is created and flushed here.
   */
  async activateCredential(
    activateHandle: number,
    ekHandle: number,
    credentialBlob: Uint8Array,
    secret: Uint8Array,
  ): Promise<Buffer> {
    return this.withTransient(await this.startEkPolicySession(), (session) =>
      this.execute(activateCredential(activateHandle, ekHandle, session, credentialBlob, secret)),
    );
  }

  /** Runs `use(handle)` and flushes the transient handle afterwards, whatever happens. */
  async withTransient<T>(handle: number, use: (handle: number) => Promise<T>): Promise<T> {
    try {
      return await use(handle);
    } finally {
      await this.flushContext(handle).catch(() => undefined);
    }
  }
}

function lastProperty(data: CapabilityData): number | undefined {
  switch (data.capability) {
    case TPM_CAP.TPM_PROPERTIES:
      return [...data.properties.keys()].at(-1);
    case TPM_CAP.HANDLES:
      return data.handles.at(-1);
    case TPM_CAP.PCR_PROPERTIES:
      return [...data.pcrProperties.keys()].at(-1);
    default:
      return undefined;
  }
}
