import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { AicertError, VerificationError } from '../errors.js';
import { decideAkTrust, meetsTrustLevel, type AkTrust, type TrustAnchors } from '../evidence/ak-trust.js';
import type { Policy } from '../evidence/policy.js';
import {
  checkExtendIndexPublic,
  NV_CERTIFY_CHECKS,
  verifyNvCertify,
  type VerifiedNvCertify,
} from '../evidence/nv-certify.js';
import { QUOTE_CHECKS, verifyQuote, type VerifiedQuote } from '../evidence/quote.js';
import { checkRecords, eventDigest } from '../protocol/event-log.js';
import { BOOT_PCRS } from '../protocol/run-events.js';
import { readServeLog, type ServeLog } from '../protocol/serve-events.js';
import { TPM_ALG } from '../tpm/constants.js';
import { nvName, parseNvPublic, type NvPublicArea } from '../tpm/nv-public.js';
import { objectName, parsePublic2b, type PublicArea } from '../tpm/public.js';
import { decodeBase64Strict } from '../util/base64.js';
import { Checklist, type CheckResult } from '../verify/checklist.js';
import type { VerificationReport } from '../verify/report.js';
import type { VerifiedRun } from '../verify/verified-run.js';
import { channelBinding, parseAttestationDocument, type AttestationDocument } from './attestation-document.js';

/** Every check of a serving attestation, in the order `verifyAttestation` runs them (docs/serving.md). */
export const ATTEST_CHECKS = [
  'attestation.schema',
  'channel.binding',
  'nonce.freshness',
  'ak.public',
  'ak.trust',
  'register',
  'quote.opened',
  'quote.current',
  ...QUOTE_CHECKS.filter((c) => c !== 'quote.nonce'),
  'nv.opened',
  'nv.current',
  ...NV_CERTIFY_CHECKS.filter((c) => c !== 'nv.nonce'),
  'quote.binding',
  'quote.continuity',
  'eventlog.sequence',
  'eventlog.replay',
  'eventlog.content',
  'session',
  'certificate',
  'certificate.binding',
  'model.certified',
] as const;
export type AttestCheckId = (typeof ATTEST_CHECKS)[number];

/** The training certificate a client holds, verified once (`verifyCertificate`) for all its connections. */
export interface TrainingCertificate {
  sha256: string;
  report: VerificationReport;
  /** Present only when it verified. */
  run?: VerifiedRun;
}

/** What the client saw of the TLS connection it asked on; absent when checking a stored attestation offline. */
export interface LiveChannel {
  nonce: string;
  tlsSpkiSha256: string;
  exporter: string;
}

export interface AttestOptions {
  training: TrainingCertificate;
  trust: TrustAnchors;
  allowUntrustedAk: boolean;
  /** The policy the training certificate was checked against: its `pinnedAks` and `minAkTrust` apply to the serving AK too. */
  policy?: Policy | undefined;
  live?: LiveChannel;
  now?: Date;
}

/** What a verified attestation establishes: the session's keys, vouched for by the TPM and tied to the certificate. */
export interface VerifiedAttestation {
  sessionId: string;
  log: ServeLog;
  receiptSpki: Buffer;
  /** The receipt key parsed once per attestation: every receipt on the connection is checked with it. */
  receiptKey: KeyObject;
  tlsSpkiSha256: string;
  akName: string;
  akTrust: AkTrust;
  trainingCertificateSha256: string;
  /** TPM clock at the attestation (ms), and the boot it comes from. */
  clock: bigint;
  resetCount: number;
}

export interface AttestationReport {
  endpoint: string;
  verdict: 'verified' | 'not verified' | 'unusable';
  exitStatus: 0 | 1 | 2;
  akTrust?: { level: AkTrust['level']; reason: string; acceptedUntrusted?: boolean };
  checks: CheckResult<AttestCheckId>[];
  facts?: Record<string, unknown>;
}

/**
 * Verifies a serving attestation: fails closed at the first check that does not hold. With `live`
 * it is the attestation of the client's own TLS connection, asked with its own nonce; without,
 * a stored attestation checked offline (for receipts): everything but freshness and channel.
 */
export async function verifyAttestation(
  bytes: Uint8Array,
  endpoint: string,
  o: AttestOptions,
): Promise<{ report: AttestationReport; attestation?: VerifiedAttestation }> {
  const list = new Checklist(ATTEST_CHECKS);
  let akTrust: AttestationReport['akTrust'];
  let verified: VerifiedAttestation | undefined;
  await list.run(async () => {
    const doc = await list.step(
      'attestation.schema',
      () => parseAttestationDocument(bytes),
      (d) => `an aicert serving attestation of session ${d.sessionId}`,
    );
    const live = o.live;
    if (live) {
      await list.step(
        'channel.binding',
        () => checkChannel(doc, live),
        () =>
          `made on this TLS connection: the server's key (SHA-256 ${live.tlsSpkiSha256.slice(0, 16)}…) and the connection's exporter`,
      );
      await list.step(
        'nonce.freshness',
        () => checkNonce(doc, live),
        () => 'answers the nonce this client just chose',
      );
    } else {
      list.skipped('channel.binding', 'a stored attestation: the TLS channel it was made on is not checked');
      list.skipped('nonce.freshness', 'a stored attestation: not fresh, checked as evidence of its session');
    }
    const tpm = doc.tpm;
    const akPublic = await list.step(
      'ak.public',
      () => parsePublic2b(decodeBase64Strict(tpm.akPublic, 'akPublic')),
      (ak) => `attestation key ${objectName(ak).toString('hex')}`,
    );
    const trust = await list.step(
      'ak.trust',
      () => decideTrust(akPublic, doc, o),
      (t) => t.reason,
    );
    akTrust = {
      level: trust.level,
      reason: trust.reason,
      ...(trust.level === 'untrusted' && { acceptedUntrusted: true }),
    };
    const nvPublic = await list.step(
      'register',
      () => {
        const area = parseNvPublic(decodeBase64Strict(tpm.nvPublic, 'nvPublic'));
        checkExtendIndexPublic(area);
        return area;
      },
      (a) =>
        `NV extend index 0x${a.index.toString(16)} (Name ${nvName(a).toString('hex')}), writable only by its session`,
    );
    const records = doc.eventLog;
    const keysRecord = records.at(-1)!;
    const openedNonce = eventDigest(keysRecord.content);
    const currentNonce = channelBinding(doc.nonce, doc.channel.tlsSpkiSha256, doc.channel.exporter);
    const opened = await list.step(
      'quote.opened',
      () => checkQuote(doc.tpm.opened.quote, akPublic, openedNonce, 'opened'),
      (q) => `the quote taken when the session opened verified (clock ${q.clock}, resetCount ${q.resetCount})`,
    );
    const current = await list.step(
      'quote.current',
      () => checkQuote(doc.tpm.current.quote, akPublic, currentNonce, 'current'),
      (q) => `this attestation's quote verified (clock ${q.clock})`,
    );
    const nvOpened = await list.step(
      'nv.opened',
      () => checkNv(doc.tpm.opened.nvCertification, akPublic, nvPublic, openedNonce, 'opened'),
      () => 'the NV certification taken when the session opened verified',
    );
    const nvCurrent = await list.step(
      'nv.current',
      () => checkNv(doc.tpm.current.nvCertification, akPublic, nvPublic, currentNonce, 'current'),
      () => "this attestation's NV certification verified",
    );
    list.ok(
      'quote.binding',
      "this attestation's quote and NV certification are bound to the nonce and the TLS channel, the opening ones to the session's keys",
    );
    await list.step(
      'quote.continuity',
      () => checkContinuity([opened, nvOpened, current, nvCurrent]),
      () => 'one boot and no TPM restart since the session opened; the TPM clock moved forward',
    );
    const { log, receiptKey } = await list.step(
      'eventlog.content',
      async () => {
        const register = { kind: 'nv', index: nvPublic.index } as const;
        await checkRecords(records, register, nvCurrent.contents);
        if (!nvOpened.contents.equals(nvCurrent.contents))
          throw new VerificationError(
            'eventlog.replay',
            'the register changed after the session opened: something extended it after the keys event',
          );
        const l = readServeLog(records);
        return { log: l, receiptKey: receiptPublicKey(l) };
      },
      ({ log: l }) =>
        `${records.length} events replay to the certified register: ${l.command.argv.join(' ') || l.command.upstream}`,
    );
    await list.step(
      'session',
      () => checkSession(doc, log, akPublic, nvPublic),
      () => "the session event names this AK and register; the keys event names the server's TLS key",
    );
    const run = await list.step(
      'certificate',
      () => {
        if (o.training.run) return o.training.run;
        const failed = o.training.report.checks.find((c) => c.status === 'failed');
        throw new VerificationError(
          'certificate',
          `the training certificate does not verify: ${failed ? `${failed.id}: ${failed.reason}` : o.training.report.verdict}`,
        );
      },
      (r) => `the training certificate verified (session ${r.session.sessionId}, AK trust ${r.akTrust.level})`,
    );
    await list.step(
      'certificate.binding',
      () => {
        if (log.trainingCertificate.sha256 !== o.training.sha256)
          throw new VerificationError(
            'certificate.binding',
            `the session serves the training certificate ${log.trainingCertificate.sha256}, not this one (${o.training.sha256})`,
          );
      },
      () => `the session serves this training certificate (sha256 ${o.training.sha256.slice(0, 16)}…)`,
    );
    await list.step(
      'model.certified',
      () => checkServedModel(log, run),
      () => `the served model is the certified output (sha256 ${log.model.digest.sha256}, ${log.model.files} files)`,
    );
    verified = {
      sessionId: doc.sessionId,
      log,
      receiptSpki: Buffer.from(log.keys.receipt.spki, 'base64'),
      receiptKey,
      tlsSpkiSha256: log.keys.tls.spkiSha256,
      akName: objectName(akPublic).toString('hex'),
      akTrust: trust,
      trainingCertificateSha256: o.training.sha256,
      clock: current.clock,
      resetCount: current.resetCount,
    };
  });
  const failure = list.failure?.result;
  const unusable = failure?.id === 'attestation.schema';
  const report: AttestationReport = {
    endpoint,
    verdict: failure ? (unusable ? 'unusable' : 'not verified') : 'verified',
    exitStatus: failure ? (unusable ? 2 : 1) : 0,
    ...(akTrust && { akTrust }),
    checks: list.results,
    ...(verified && {
      facts: {
        session: verified.sessionId,
        startedAt: verified.log.session.startedAt,
        model: verified.log.model.digest.sha256,
        trainingCertificate: verified.trainingCertificateSha256,
        tlsKeySha256: verified.tlsSpkiSha256,
        tpmClockMs: verified.clock.toString(),
      },
    }),
  };
  return { report, ...(verified && { attestation: verified }) };
}

/** SHA-256 of a training certificate's bytes, with its verification (run once per client). */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function checkChannel(doc: AttestationDocument, live: LiveChannel): void {
  if (doc.channel.tlsSpkiSha256 !== live.tlsSpkiSha256)
    throw new VerificationError(
      'channel.binding',
      `the attestation is for TLS key ${doc.channel.tlsSpkiSha256}, this connection's server key is ${live.tlsSpkiSha256}: someone between this client and the attested server terminates TLS`,
    );
  if (doc.channel.exporter !== live.exporter)
    throw new VerificationError(
      'channel.binding',
      "the attestation was made for another TLS connection (its exporter value is not this connection's): it was relayed",
    );
}

function checkNonce(doc: AttestationDocument, live: LiveChannel): void {
  if (doc.nonce !== live.nonce)
    throw new VerificationError(
      'nonce.freshness',
      `the attestation answers nonce ${doc.nonce.slice(0, 16)}…, this client asked ${live.nonce.slice(0, 16)}…: it is a replay`,
    );
}

/**
 * The verifier's AK trust decision (`decideAkTrust`, the one `aicert verify` makes), with the
 * policy's pinned AKs, and its minimum AK trust level when a policy is given.
 */
function decideTrust(akPublic: PublicArea, doc: AttestationDocument, o: AttestOptions): AkTrust {
  const chain = (doc.tpm.akCertificateChain ?? []).map((c, i) => decodeBase64Strict(c, `akCertificateChain[${i}]`));
  const whose = "the serving host's attestation key";
  const trust = decideAkTrust(akPublic, chain, { ...o, pinnedAks: o.policy?.pinnedAks }, whose);
  if (o.policy && !meetsTrustLevel(trust.level, o.policy.minAkTrust))
    throw new VerificationError(
      'ak.trust',
      `${whose} is trusted at level ${trust.level} (${trust.reason}); the policy requires at least ${o.policy.minAkTrust}`,
    );
  return trust;
}

type Phase = 'opened' | 'current';

async function checkQuote(
  q: AttestationDocument['tpm']['opened']['quote'],
  akPublic: PublicArea,
  nonce: Buffer,
  phase: Phase,
): Promise<VerifiedQuote> {
  const pcrs = new Map(Object.entries(q.pcrs.sha256).map(([k, v]) => [Number(k), Buffer.from(v, 'hex')]));
  try {
    // Awaited: the evidence checks may be asynchronous (WebCrypto).
    return await verifyQuote(
      {
        attest: decodeBase64Strict(q.attest, `${phase} quote attest`),
        signature: decodeBase64Strict(q.signature, `${phase} quote signature`),
        akPublic,
        pcrs: new Map([[TPM_ALG.SHA256, pcrs]]),
      },
      { nonce, selection: [{ hashAlg: TPM_ALG.SHA256, pcrs: [...BOOT_PCRS] }] },
    );
  } catch (err) {
    throw rename(err, 'quote.nonce', 'quote.signature', phase);
  }
}

async function checkNv(
  c: { attest: string; signature: string },
  akPublic: PublicArea,
  nvPublic: NvPublicArea,
  nonce: Buffer,
  phase: Phase,
): Promise<VerifiedNvCertify> {
  try {
    return await verifyNvCertify(
      {
        attest: decodeBase64Strict(c.attest, `${phase} NV certification attest`),
        signature: decodeBase64Strict(c.signature, `${phase} NV certification signature`),
        akPublic,
        nvPublic,
      },
      { nonce },
    );
  } catch (err) {
    throw rename(err, 'nv.nonce', 'nv.signature', phase);
  }
}

/** A nonce mismatch is a binding failure; other failures keep their check's id, with the phase in the reason. */
function rename(err: unknown, nonceCode: string, fallback: string, phase: Phase): unknown {
  if (!(err instanceof AicertError)) return err;
  const what = phase === 'opened' ? "the session's keys event" : 'the nonce and TLS channel of this attestation';
  if (err.code === nonceCode)
    return new VerificationError('quote.binding', `the ${phase} evidence is not bound to ${what} (${err.message})`);
  return new VerificationError(err instanceof VerificationError ? err.code : fallback, `${phase}: ${err.message}`);
}

function checkContinuity(evidence: Array<{ resetCount: number; restartCount: number; clock: bigint }>): void {
  const [first] = evidence;
  for (const e of evidence) {
    if (e.resetCount !== first!.resetCount || e.restartCount !== first!.restartCount)
      throw new VerificationError(
        'quote.continuity',
        `the TPM was reset or restarted since the session opened (resetCount ${first!.resetCount} → ${e.resetCount}, restartCount ${first!.restartCount} → ${e.restartCount}); the session's register and keys are no longer vouched for`,
      );
  }
  const [opened, , current] = evidence;
  if (current!.clock < opened!.clock)
    throw new VerificationError('quote.continuity', 'the TPM clock went backwards between the session opening and now');
}

function checkSession(doc: AttestationDocument, log: ServeLog, akPublic: PublicArea, nvPublic: NvPublicArea): void {
  const s = log.session;
  const fail = (why: string) => new VerificationError('session', why);
  if (s.sessionId !== doc.sessionId)
    throw fail(`the document names session ${doc.sessionId}, its log session ${s.sessionId}`);
  if (s.akName !== objectName(akPublic).toString('hex'))
    throw fail(
      `the session event names AK ${s.akName}, the evidence is signed by ${objectName(akPublic).toString('hex')}`,
    );
  if (s.nvIndex !== nvPublic.index || s.nvName !== nvName(nvPublic).toString('hex'))
    throw fail(`the session event names NV index 0x${s.nvIndex.toString(16)} (${s.nvName}), the evidence another`);
  if (log.keys.tls.spkiSha256 !== doc.channel.tlsSpkiSha256)
    throw fail("the attested TLS key is not the key the server presented on the attestation's channel");
  const spki = Buffer.from(log.keys.tls.spki, 'base64');
  if (createHash('sha256').update(spki).digest('hex') !== log.keys.tls.spkiSha256)
    throw fail('the keys event gives a TLS key whose SHA-256 is not the one it states');
}

/** The served model must be the training run's output: same manifest root and, when listed, same file names. */
function checkServedModel(log: ServeLog, run: VerifiedRun): void {
  const served = log.model;
  const outputs = run.outputs.filter((o) => o.role === 'model');
  const same = outputs.find(
    (o) =>
      o.digest.sha256 === served.digest.sha256 &&
      (!o.entries ||
        !served.entries ||
        (o.entries.length === served.entries.length && o.entries.every((e, i) => e.name === served.entries![i]!.name))),
  );
  if (!same)
    throw new VerificationError(
      'model.certified',
      `the session serves model ${served.digest.sha256} (${served.files} files), the certificate's output is ${outputs.map((o) => o.digest.sha256).join(', ') || 'absent'}`,
    );
}

/** The attested receipt key as a key object; an SPKI that is not an Ed25519 key fails `eventlog.content`. */
function receiptPublicKey(log: ServeLog): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(log.keys.receipt.spki, 'base64'), format: 'der', type: 'spki' });
  } catch (err) {
    throw new VerificationError(
      'eventlog.content',
      `the attested receipt key is not a public key: ${(err as Error).message}`,
    );
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new VerificationError(
      'eventlog.content',
      `the attested receipt key is ${key.asymmetricKeyType}, not Ed25519`,
    );
  return key;
}
