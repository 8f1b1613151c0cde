/**
 * A forger who can reach the TPM that made a certificate — a development host where the
 * application PCR is resettable and nothing pins the boot chain (docs/security.md, residual
 * risks). It resets the PCR, extends whatever digests it likes and has the genuine AK quote
 * them over any qualifying data. Certificates it builds consistently verify: only a policy
 * pinning a dedicated image (policy.boot) stops it. Built inconsistently, they show that each
 * check after the quotes catches what the quotes alone do not.
 */
import { createHash } from 'node:crypto';
import { Tpm } from '../../src/tpm/client.js';
import { TPM_ALG, TPM_RH } from '../../src/tpm/constants.js';
import { AK_TEMPLATE } from '../../src/tpm/keys.js';
import { public2b, type TpmPublic } from '../../src/tpm/public.js';
import { pae } from '../../src/cert/dsse.js';
import { IN_TOTO_PAYLOAD_TYPE } from '../../src/cert/intoto.js';
import { eventDigest, type CelRecord } from '../../src/protocol/event-log.js';
import { BOOT_PCRS } from '../../src/protocol/run-events.js';
import type { CertificateNvRegister, CertificateQuote } from '../../src/cert/certificate.js';
import { NvExtendIndex, writtenPublic } from '../../src/tpm/nv-extend-index.js';
import { marshalNvPublic } from '../../src/tpm/nv-public.js';

export interface Requote {
  /** Digests extended before the start quote (default: the records up to the commitment). */
  startDigests: Buffer[];
  /** Digests extended after it. */
  endDigests: Buffer[];
  startNonce: Buffer;
  endNonce: Buffer;
  /** PCRs quoted (default the boot PCRs and the application PCR). */
  pcrs?: number[];
  /** Take the end quote first (its clock then runs behind the start quote's). */
  endFirst?: boolean;
  /** Power-cycle the TPM between the two quotes (and replay the log on the new boot). */
  rebootBetween?: boolean;
  /** The key that quotes (default the aicert AK template: the genuine, enrolled AK). */
  template?: TpmPublic;
}

export interface Requoted {
  quotes: [CertificateQuote, CertificateQuote];
  /** base64 TPM2B_PUBLIC of the key that quoted. */
  akPublic: string;
}

/** The default plan: the records as recorded, the run's own binding nonces. */
export function planFor(records: readonly CelRecord[], statementPayload: Buffer): Requote {
  const commitment = records.findIndex((r) => r.content.type === 'commitment');
  const digests = records.map((r) => Buffer.from(r.digests[0]!.digest, 'hex'));
  return {
    startDigests: digests.slice(0, commitment + 1),
    endDigests: digests.slice(commitment + 1),
    startNonce: eventDigest(records[commitment]!.content),
    endNonce: statementBinding(statementPayload),
  };
}

export function statementBinding(payload: Buffer): Buffer {
  return createHash('sha256').update(pae(IN_TOTO_PAYLOAD_TYPE, payload)).digest();
}

/** Replays the plan into `pcr` of the TPM at `address` and returns the two quotes. */
export async function requote(address: string, pcr: number, plan: Requote): Promise<Requoted> {
  const tpm = await Tpm.open(address);
  try {
    const pcrs = plan.pcrs ?? [...BOOT_PCRS, pcr];
    const extend = async (digests: Buffer[]) => {
      for (const digest of digests) await tpm.pcrExtend(pcr, [{ hashAlg: TPM_ALG.SHA256, digest }]);
    };
    let akPublic = '';
    // The key is a primary: recreated from its template for each quote (as aicert does), so it survives a power cycle.
    const quote = async (phase: 'start' | 'end', nonce: Buffer): Promise<CertificateQuote> => {
      const key = await tpm.createPrimary(TPM_RH.ENDORSEMENT, plan.template ?? AK_TEMPLATE, 'quoting key');
      akPublic = public2b(key.public.bytes).toString('base64');
      const { attest, signature } = await tpm.withTransient(key.handle, (h) =>
        tpm.quote(h, nonce, [{ hashAlg: TPM_ALG.SHA256, pcrs }]),
      );
      const values = await tpm.pcrRead(TPM_ALG.SHA256, pcrs);
      const sha256 = Object.fromEntries([...values].map(([index, value]) => [String(index), value.toString('hex')]));
      return { phase, attest: attest.toString('base64'), signature: signature.toString('base64'), pcrs: { sha256 } };
    };
    await tpm.pcrReset(pcr);
    await extend(plan.startDigests);
    if (plan.endFirst) {
      await extend(plan.endDigests);
      const end = await quote('end', plan.endNonce);
      await tpm.pcrReset(pcr);
      await extend(plan.startDigests);
      return { quotes: [await quote('start', plan.startNonce), end], akPublic };
    }
    const start = await quote('start', plan.startNonce);
    if (plan.rebootBetween) {
      await tpm.powerCycle();
      await extend(plan.startDigests);
    }
    await extend(plan.endDigests);
    return { quotes: [start, await quote('end', plan.endNonce)], akPublic };
  } finally {
    await tpm.close();
  }
}

export interface NvRecertified {
  quotes: [CertificateQuote, CertificateQuote];
  /** The forger's own NV extend index: base64 TPMS_NV_PUBLIC as written, and its two NV_Certify attestations. */
  nv: CertificateNvRegister;
  /** Its Name, hex. */
  nvName: string;
}

/**
 * The same forger against an NV register: the run's index is gone and its key with it, so it
 * defines an index of its own (its own policy key: the only kind it can write), extends the
 * plan's digests there, has the genuine AK certify it over the plan's nonces and quote the
 * boot PCRs. What it cannot make is an index with the run's Name that holds these values.
 */
export async function recertifyNv(address: string, plan: Requote): Promise<NvRecertified> {
  const tpm = await Tpm.open(address);
  try {
    const nv = await NvExtendIndex.define(tpm);
    try {
      const attest = async (phase: 'start' | 'end', nonce: Buffer) => {
        const ak = await tpm.createPrimary(TPM_RH.ENDORSEMENT, AK_TEMPLATE, 'quoting key');
        return tpm.withTransient(ak.handle, async (h) => {
          const certified = await nv.certify(h, nonce);
          const quoted = await tpm.quote(h, nonce, [{ hashAlg: TPM_ALG.SHA256, pcrs: [...BOOT_PCRS] }]);
          const values = await tpm.pcrRead(TPM_ALG.SHA256, [...BOOT_PCRS]);
          const sha256 = Object.fromEntries([...values].map(([i, v]) => [String(i), v.toString('hex')]));
          return {
            quote: {
              phase,
              attest: quoted.attest.toString('base64'),
              signature: quoted.signature.toString('base64'),
              pcrs: { sha256 },
            },
            certification: {
              phase,
              attest: certified.attest.toString('base64'),
              signature: certified.signature.toString('base64'),
            },
          };
        });
      };
      for (const digest of plan.startDigests) await nv.extend(digest);
      const start = await attest('start', plan.startNonce);
      for (const digest of plan.endDigests) await nv.extend(digest);
      const end = await attest('end', plan.endNonce);
      return {
        quotes: [start.quote, end.quote],
        nv: {
          public: marshalNvPublic(writtenPublic(nv.definedPublic)).toString('base64'),
          certifications: [start.certification, end.certification],
        },
        nvName: nv.name.toString('hex'),
      };
    } finally {
      await nv.undefine();
    }
  } finally {
    await tpm.close();
  }
}
