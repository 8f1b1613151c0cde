import { X509Certificate } from 'node:crypto';
import { VerificationError } from '../errors.js';
import { evaluateAkTrust, type AkTrust, type TrustAnchors } from '../evidence/ak-trust.js';
import { parseGceAttestation, type GceAttestation } from '../evidence/gce-attestation.js';
import { QUOTE_CHECKS, describeSelection, verifyQuote, type VerifiedQuote } from '../evidence/quote.js';
import { parseTcgLog, type TcgLog } from '../evidence/boot-log/tcg-log.js';
import { verifyBootLog, type VerifiedBootLog } from '../evidence/boot-log/verify-boot-log.js';
import { checkAkAttributes } from '../tpm/ak-attributes.js';
import { HASH_ALGS, TPM_ALG } from '../tpm/constants.js';
import { hashAlgName } from '../tpm/pcr-selection.js';
import { objectName } from '../tpm/public.js';
import { Checklist, type CheckResult } from './checklist.js';

/**
 * Verifies a Google Cloud attestation (go-tpm-tools' `attest.Attestation`) with aicert's own
 * verifiers, as go-tpm-tools' server.VerifyAttestation does: the AK (its attributes and its
 * certificate chain to a trusted root), every quote (signature, magic, type, nonce, selection,
 * PCR digest), that all quotes come from one boot, and the boot event log replayed against the
 * quoted PCRs. The first failure stops the list; its id names the check.
 */
export const GCE_ATTESTATION_CHECKS = [
  'attestation.format',
  'ak.attributes',
  'ak.trust',
  ...QUOTE_CHECKS.filter((c) => c !== 'ak.attributes'),
  'quote.continuity',
  'bootlog.format',
  'boot.eventlog',
  'boot.facts',
] as const;
export type GceAttestationCheck = (typeof GCE_ATTESTATION_CHECKS)[number];

export interface GceAttestationOptions {
  /** The nonce the attestation was asked for (go-tpm-tools puts it in the quotes' extraData as is). */
  nonce: Uint8Array;
  trust: TrustAnchors;
  /**
   * Intermediate CA certificates the verifier holds (DER), for attestations that carry only the
   * AK certificate; only those on the AK certificate's path are used.
   */
  intermediates?: readonly Uint8Array[];
  /** When certificates must be valid; default now. */
  at?: Date;
}

export interface VerifiedGceAttestation {
  akName: Buffer;
  akTrust: AkTrust;
  /** One per quoted bank, in the attestation's order. */
  quotes: VerifiedQuote[];
  /** The boot log replayed in each bank that it and a quote share, SHA-256 first. */
  bootLogs: VerifiedBootLog[];
}

export interface GceAttestationResult {
  checks: CheckResult<GceAttestationCheck>[];
  /** Present only when every check passed. */
  verified?: VerifiedGceAttestation;
}

export async function verifyGceAttestation(
  bytes: Uint8Array,
  options: GceAttestationOptions,
): Promise<GceAttestationResult> {
  const list = new Checklist<GceAttestationCheck>(GCE_ATTESTATION_CHECKS);
  let verified: VerifiedGceAttestation | undefined;
  await list.run(async () => {
    const attestation = await list.step(
      'attestation.format',
      () => parseGceAttestation(bytes),
      (a) =>
        `attest.Attestation with ${a.quotes.length} quotes, a ${a.eventLog.length}-byte event log` +
        `${a.akCertificate ? ' and an AK certificate' : ''}`,
    );
    await list.step(
      'ak.attributes',
      () => checkAkAttributes(attestation.akPublic.public),
      () => 'the AK is a restricted signing key that cannot leave its TPM',
    );
    const akTrust = await list.step(
      'ak.trust',
      () => trustOf(attestation, options),
      (t) => t.reason,
    );
    const quotes: VerifiedQuote[] = [];
    for (const quote of attestation.quotes) {
      const selection = [{ hashAlg: quote.hashAlg, pcrs: [...(quote.pcrs.get(quote.hashAlg)?.keys() ?? [])] }];
      quotes.push(
        await list.step(
          'quote.signature',
          () =>
            verifyQuote(
              { attest: quote.attest, signature: quote.signature, akPublic: attestation.akPublic, pcrs: quote.pcrs },
              { nonce: options.nonce, selection },
            ),
          (q) => `the AK signed a quote of ${describeSelection(q.selection)} over the nonce; the PCR values match it`,
        ),
      );
    }
    const first = quotes[0]!;
    const otherBoot = quotes.find((q) => q.resetCount !== first.resetCount || q.restartCount !== first.restartCount);
    if (otherBoot)
      list.fail(
        'quote.continuity',
        `the ${hashAlgName(otherBoot.selection[0]!.hashAlg)} quote comes from another boot or restart ` +
          `(reset ${otherBoot.resetCount}, restart ${otherBoot.restartCount}; the first quote has ${first.resetCount}, ${first.restartCount})`,
      );
    list.ok('quote.continuity', `all ${quotes.length} quotes come from one boot (reset count ${first.resetCount})`);
    const log = await list.step(
      'bootlog.format',
      () => parseTcgLog(attestation.eventLog),
      (l) =>
        `a ${l.format} TCG boot event log of ${l.events.length} events (${l.algorithms.map((a) => a.name).join(', ')})`,
    );
    const bootLogs = await list.step(
      'boot.eventlog',
      () => replayInQuotedBanks(log, quotes),
      (logs) =>
        logs
          .map((b) => `${b.bank}: PCRs ${b.pcrs.join(', ')} replay to the quoted values (${b.events.length} events)`)
          .join('; '),
    );
    verified = { akName: objectName(attestation.akPublic), akTrust, quotes, bootLogs };
  });
  return { checks: list.results, ...(verified && { verified }) };
}

async function trustOf(attestation: GceAttestation, options: GceAttestationOptions): Promise<AkTrust> {
  const chain = attestation.akCertificate
    ? withIssuers([attestation.akCertificate, ...attestation.intermediates], options.intermediates ?? [])
    : [];
  const trust = await evaluateAkTrust(attestation.akPublic, chain, options.trust, options.at ?? new Date());
  if (trust.level === 'untrusted') throw new VerificationError('ak.trust', `the AK is not trusted: ${trust.reason}`);
  return trust;
}

/**
 * Appends the verifier's intermediates that issued the last certificate of `chain`, one after
 * another; AK trust refuses certificates off the path, so the others are left out.
 */
function withIssuers(chain: Uint8Array[], known: readonly Uint8Array[]): Uint8Array[] {
  const out = [...chain];
  const candidates = known.map((der) => new X509Certificate(der));
  for (let i = 0; i < candidates.length; i++) {
    let last: X509Certificate;
    try {
      last = new X509Certificate(out[out.length - 1]!);
    } catch {
      return out; // a malformed certificate is ak.trust's to report
    }
    const issuer = candidates.findIndex((c, j) => c.subject === last.issuer && !out.includes(known[j]!));
    if (issuer < 0 || last.subject === last.issuer) return out;
    out.push(known[issuer]!);
  }
  return out;
}

/**
 * Replays the log in every bank it carries that a verified quote covers (go-tpm-tools checks
 * one; each bank is an independent witness, so all are checked). `boot.facts` problems surface
 * from verifyBootLog under their own id.
 */
function replayInQuotedBanks(log: TcgLog, quotes: readonly VerifiedQuote[]): VerifiedBootLog[] {
  const out: VerifiedBootLog[] = [];
  const banks = [...quotes].sort((a, b) => bankOrder(a) - bankOrder(b));
  for (const quote of banks) {
    const bank = HASH_ALGS[quote.selection[0]!.hashAlg]?.name;
    if (bank === undefined || !log.algorithms.some((a) => a.name === bank)) continue;
    out.push(verifyBootLog(log, quote.pcrs.get(quote.selection[0]!.hashAlg)!, bank));
  }
  if (out.length === 0)
    throw new VerificationError(
      'boot.eventlog',
      `the boot event log (${log.algorithms.map((a) => a.name).join(', ')}) shares no bank with the quotes`,
    );
  return out;
}

/** SHA-256 first: the bank policies and facts are read in. */
function bankOrder(quote: VerifiedQuote): number {
  const alg = quote.selection[0]!.hashAlg;
  return alg === TPM_ALG.SHA256 ? -1 : alg;
}
