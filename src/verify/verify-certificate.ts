import { createHash } from 'node:crypto';
import { AicertError, VerificationError } from '../errors.js';
import { parseCertificate, type Certificate, type CertificateQuote, type QuotePhase } from '../cert/certificate.js';
import { decodeBase64Strict } from '../cert/base64.js';
import { pae } from '../cert/dsse.js';
import { IN_TOTO_PAYLOAD_TYPE, parseStatement, type Statement } from '../cert/intoto.js';
import { checkEndorsement, type CheckedEndorsement } from '../cert/endorsement.js';
import type { KeyObject } from 'node:crypto';
import { provenancePredicateSchema, SLSA_PROVENANCE_V1, AICERT_BUILD_TYPE } from '../cert/provenance.js';
import { buildRunStatement, type ExitEvent, type SessionEvent } from '../cert/run-statement.js';
import { canonicalize, isCanonicalizable } from '../evidence/jcs.js';
import { findDuplicateKey } from '../measure/formats/strict-json.js';
import { eventDigest, replayEventLog, verifyEventLog, type CelRecord, type EventContent } from '../evidence/event-log.js';
import { verifyQuote, type VerifiedQuote } from '../evidence/quote.js';
import { evaluateAkTrust, meetsTrustLevel, withPinnedAks, type AkTrust, type TrustAnchors } from '../evidence/ak-trust.js';
import { checkPolicy, type Policy } from '../evidence/policy.js';
import { objectName, parsePublic2b, type PublicArea } from '../tpm/public.js';
import { TPM_ALG } from '../tpm/constants.js';
import type { ArtifactEvent } from '../run/artifacts.js';
import { BOOT_PCRS } from '../run/attested-session.js';
import { CheckList, type VerificationReport } from './report.js';
import { TRAINER_PROTOCOL, trainerSeed, type TrainerCommitment } from '../run/trainer-commitment.js';
import { checkArtifacts, type ArtifactPaths } from './artifacts.js';

export interface VerifyOptions extends ArtifactPaths {
  trust: TrustAnchors;
  /** Accept an AK no trust anchor vouches for (labelled loudly in the report). */
  allowUntrustedAk: boolean;
  policy?: Policy;
  /** Time at which certificates must be valid; default now. */
  now?: Date;
  /** Auditor endorsements (SLSA VSAs) to check, and the auditor keys trusted to sign them. */
  endorsements?: Array<{ name: string; bytes: Uint8Array }>;
  trustedAuditors?: KeyObject[];
}

/** Thrown inside the checklist to stop at the first failure; the failure is already recorded. */
class Stop extends Error {}

/**
 * Verifies an aicert certificate (DESIGN §6). Reads as the list of checks it runs; each step
 * records `ok` with what it established, or `failed` with why, and the first failure ends the
 * list: nothing after a failed check is believed.
 */
export async function verifyCertificate(bytes: Uint8Array, name: string, o: VerifyOptions): Promise<VerificationReport> {
  const list = new CheckList();
  const step = <T>(id: string, fn: () => T, reason: (value: T) => string): T => {
    try {
      const value = fn();
      list.ok(id, reason(value));
      return value;
    } catch (err) {
      if (err instanceof AicertError) {
        list.failed(err instanceof VerificationError ? err.code : id, err.message);
        throw new Stop();
      }
      throw err;
    }
  };
  let akTrust: VerificationReport['akTrust'];
  try {
    const cert = step('bundle.schema', () => parseCertificate(bytes), () => 'the file is an aicert v1 certificate');
    const tpm = cert.evidence.tpm;
    const statementBytes = step('statement.schema', () => statementPayload(cert), () => 'the statement is an in-toto Statement v1 with a SLSA Provenance v1 predicate of aicert build type');
    const akPublic = step('ak.public', () => parsePublic2b(decodeBase64Strict(tpm.akPublic, 'akPublic')), (ak) => `attestation key ${objectName(ak).toString('hex')}`);
    const trust = step('ak.trust', () => decideAkTrust(akPublic, cert, o), (t) => t.reason);
    akTrust = { level: trust.level, reason: trust.reason, ...(trust.level === 'untrusted' && { acceptedUntrusted: true }) };

    const records = tpm.eventLog;
    const commitmentIndex = step('eventlog.order', () => checkEventOrder(records), (i) => `${records.length} events in a valid order; inputs committed by event ${i}`);
    const startNonce = eventDigest(records[commitmentIndex]!.content);
    const endNonce = createHash('sha256').update(pae(IN_TOTO_PAYLOAD_TYPE, statementBytes)).digest();
    const start = step('quote.start', () => checkQuote(tpm.quotes[0], akPublic, tpm.pcr, startNonce, 'start'), (q) => `start quote verified (clock ${q.clock}, resetCount ${q.resetCount})`);
    const end = step('quote.end', () => checkQuote(tpm.quotes[1], akPublic, tpm.pcr, endNonce, 'end'), (q) => `end quote verified (clock ${q.clock}, resetCount ${q.resetCount})`);
    step('quote.binding', () => undefined, () => 'the start quote is bound to the input commitment, the end quote to the exact statement bytes');
    step('quote.continuity', () => checkContinuity(start, end), () => 'no reboot or TPM restart between the quotes, and the TPM clock moved forward');

    const startValue = start.pcrs.get(TPM_ALG.SHA256)!.get(tpm.pcr)!;
    const endValue = end.pcrs.get(TPM_ALG.SHA256)!.get(tpm.pcr)!;
    step('eventlog.replay', () => checkReplay(records, commitmentIndex, tpm.pcr, startValue, endValue), () => `the event log replays to the quoted PCR ${tpm.pcr} at start and at end`);
    const events = step(
      'eventlog.content',
      () => {
        const verified = verifyEventLog(records, tpm.pcr, endValue);
        checkSessionFacts(verified, tpm.pcr, akPublic, records, commitmentIndex);
        return verified;
      },
      () => 'every event digest is the digest of its content; the session names this AK and PCR',
    );
    const trainer = events[commitmentIndex]!.trainer as TrainerCommitment | undefined;
    if (trainer) step('trainer.commitment', () => checkTrainerCommitment(trainer, events), () => `the trainer's seed s derives from the inputs' digests and r (${trainer.rSource}); ${events.filter((e) => e.type === 'checkpoint').length} checkpoints measured live`);
    step('statement.eventlog', () => checkStatementMatchesLog(statementBytes, records), () => 'the statement is exactly the one the verified event log implies');
    const exit = events.find((e): e is ExitEvent => e.type === 'exit')!;
    step('run.exit', () => checkExit(exit), () => 'the training command exited with status 0');

    if (o.policy) {
      const facts = { pcr: tpm.pcr, quotedPcrs: end.pcrs.get(TPM_ALG.SHA256)!, inputs: events.filter((e): e is ArtifactEvent => e.type === 'input'), akTrust: trust };
      for (const r of checkPolicy(o.policy, facts)) {
        if (r.status === 'failed') {
          list.failed(r.id, r.reason);
          throw new Stop();
        }
        if (r.status === 'ok') list.ok(r.id, r.reason);
        else list.skipped(r.id, r.reason);
      }
    } else {
      list.skipped('policy', 'no --policy given: boot PCRs and allowed inputs are not checked');
    }

    for (const r of await checkArtifacts(events, o)) {
      if (r.status === 'failed') {
        list.failed(r.id, r.reason);
        throw new Stop();
      }
      if (r.status === 'ok') list.ok(r.id, r.reason);
      else list.skipped(r.id, r.reason);
    }
    const endorsements = checkEndorsements(list, bytes, statementBytes, o);
    return report(name, list, akTrust, { ...facts(events, start, end), ...(endorsements.length > 0 && { endorsements }) });
  } catch (err) {
    if (err instanceof Stop) return report(name, list, akTrust);
    throw err;
  }
}

function report(name: string, list: CheckList, akTrust: VerificationReport['akTrust'], facts?: Record<string, unknown>): VerificationReport {
  const failure = list.failures[0];
  const unusable = failure?.id === 'bundle.schema';
  return {
    certificate: name,
    verdict: failure ? (unusable ? 'unusable' : 'not verified') : 'verified',
    exitStatus: failure ? (unusable ? 2 : 1) : 0,
    ...(akTrust && { akTrust }),
    checks: list.results,
    ...(!failure && facts && { facts }),
  };
}

/**
 * Endorsements are checked when any are given or any auditor is trusted: each must be signed
 * by a trusted auditor and vouch for this certificate; an untrusted or altered one fails.
 */
function checkEndorsements(list: CheckList, certificateBytes: Uint8Array, statementBytes: Buffer, o: VerifyOptions): CheckedEndorsement[] {
  const given = o.endorsements ?? [];
  const auditors = o.trustedAuditors ?? [];
  if (given.length === 0 && auditors.length === 0) return [];
  if (given.length === 0) {
    list.failed('audit.endorsement', 'auditors are trusted (--trust-auditor) but no endorsement was found (--endorsement FILE)');
    throw new Stop();
  }
  const subject = (JSON.parse(statementBytes.toString('utf8')) as Statement).subject;
  return given.map(({ name, bytes }) => {
    try {
      const e = checkEndorsement(bytes, certificateBytes, subject, auditors);
      list.ok('audit.endorsement', `${name}: ${e.auditor} vouched ${e.result} (${e.levels.join(', ')}) at ${e.timeVerified}`);
      return e;
    } catch (err) {
      if (!(err instanceof AicertError)) throw err;
      list.failed(err.code.startsWith('audit.endorsement') ? err.code : 'audit.endorsement', `${name}: ${err.message}`);
      throw new Stop();
    }
  });
}

function statementPayload(cert: Certificate): Buffer {
  const envelope = cert.statement;
  // No signer keys are trusted for statement signatures yet, so one present could only ride along unchecked.
  if (envelope.signatures.length > 0) {
    throw new VerificationError('statement.signatures', `the statement envelope carries ${envelope.signatures.length} DSSE signature(s) that aicert does not check; a certificate's statement is vouched for by its TPM quotes only`);
  }
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new VerificationError('statement.schema', `the statement's payload type is ${JSON.stringify(envelope.payloadType)}, not ${IN_TOTO_PAYLOAD_TYPE}`);
  }
  const bytes = decodeBase64Strict(envelope.payload, 'statement payload');
  const statement = parseStatement(bytes, { predicateType: SLSA_PROVENANCE_V1, predicate: provenancePredicateSchema }, 'statement');
  // Readers that keep the first of two equal keys would see another statement than this verifier.
  const duplicate = findDuplicateKey(bytes.toString('utf8'));
  if (duplicate !== undefined) throw new VerificationError('statement.schema', `the statement repeats the key "${duplicate}" in one object`);
  if (!isCanonicalizable(JSON.parse(bytes.toString('utf8')))) throw new VerificationError('statement.schema', 'the statement holds a number out of range or nesting too deep for canonical JSON');
  if (statement.predicate.buildDefinition.buildType !== AICERT_BUILD_TYPE) {
    throw new VerificationError('statement.schema', `the build type is ${statement.predicate.buildDefinition.buildType}, not ${AICERT_BUILD_TYPE}`);
  }
  return bytes;
}

function decideAkTrust(akPublic: PublicArea, cert: Certificate, o: VerifyOptions): AkTrust {
  const chain = (cert.evidence.tpm.akCertificateChain ?? []).map((c, i) => decodeBase64Strict(c, `akCertificateChain[${i}]`));
  const anchors = o.policy ? withPinnedAks(o.trust, o.policy.pinnedAks) : o.trust;
  const trust = evaluateAkTrust(akPublic, chain, anchors, o.now ?? new Date());
  if (meetsTrustLevel(trust.level, 'pinned')) return trust;
  if (o.allowUntrustedAk) {
    return { ...trust, reason: `UNTRUSTED attestation key accepted because --allow-untrusted-ak was given: ${trust.reason}. This certificate proves nothing about the hardware.` };
  }
  throw new VerificationError('ak.trust', `the attestation key is not trusted: ${trust.reason}. Pass --trust with the AK's CA certificate, pin it in a policy, or (for testing only) --allow-untrusted-ak`);
}

/**
 * The run's events in their only valid order: session, environment, inputs (≥ 1), command,
 * commitment | checkpoints, exit, outputs. Returns the commitment's index.
 */
function checkEventOrder(records: readonly CelRecord[]): number {
  const types = records.map((r) => r.content.type).join(' ');
  const valid = /^session environment (input )+command commitment (checkpoint )*exit( output)*$/;
  if (!valid.test(types)) {
    throw new VerificationError('eventlog.order', `the events are not in the order of a run (session, environment, inputs, command, commitment, checkpoints, exit, outputs): got "${types}"`);
  }
  return records.findIndex((r) => r.content.type === 'commitment');
}

function checkQuote(q: CertificateQuote, akPublic: PublicArea, pcr: number, nonce: Buffer, phase: QuotePhase): VerifiedQuote {
  const pcrs = new Map<number, Buffer>(Object.entries(q.pcrs.sha256).map(([k, v]) => [Number(k), Buffer.from(v, 'hex')]));
  const selection = [{ hashAlg: TPM_ALG.SHA256, pcrs: [...new Set([...BOOT_PCRS, pcr])].sort((a, b) => a - b) }];
  try {
    return verifyQuote(
      { attest: decodeBase64Strict(q.attest, `${phase} quote attest`), signature: decodeBase64Strict(q.signature, `${phase} quote signature`), akPublic, pcrs: new Map([[TPM_ALG.SHA256, pcrs]]) },
      { nonce, selection },
    );
  } catch (err) {
    if (!(err instanceof AicertError)) throw err;
    // Name the failure by the quote check, with the phase in the reason; a nonce mismatch is a binding failure.
    const id = err.code === 'quote.nonce' ? 'quote.binding' : err instanceof VerificationError ? err.code : 'quote.signature';
    const what = phase === 'start' ? 'the input commitment' : 'the statement';
    const detail = err.code === 'quote.nonce' ? `the ${phase} quote is not bound to ${what} of this certificate (${err.message})` : `${phase} quote: ${err.message}`;
    throw new VerificationError(id, detail);
  }
}

function checkContinuity(start: VerifiedQuote, end: VerifiedQuote): void {
  if (start.resetCount !== end.resetCount) {
    throw new VerificationError('quote.continuity', `the TPM was reset (rebooted) between the quotes: resetCount ${start.resetCount} at start, ${end.resetCount} at end`);
  }
  if (start.restartCount !== end.restartCount) {
    throw new VerificationError('quote.continuity', `the TPM was restarted between the quotes: restartCount ${start.restartCount} at start, ${end.restartCount} at end`);
  }
  if (end.clock <= start.clock) {
    throw new VerificationError('quote.continuity', `the TPM clock did not move forward: ${start.clock} ms at start, ${end.clock} ms at end (quotes swapped or replayed)`);
  }
}

function checkReplay(records: readonly CelRecord[], commitmentIndex: number, pcr: number, startValue: Buffer, endValue: Buffer): void {
  const prefix = replayEventLog(records.slice(0, commitmentIndex + 1));
  if (!prefix.equals(startValue)) {
    throw new VerificationError('eventlog.replay', `the events up to the commitment replay to PCR ${pcr} = ${prefix.toString('hex')}, the start quote shows ${startValue.toString('hex')}`);
  }
  const all = replayEventLog(records);
  if (!all.equals(endValue)) {
    throw new VerificationError('eventlog.replay', `the ${records.length} events replay to PCR ${pcr} = ${all.toString('hex')}, the end quote shows ${endValue.toString('hex')}`);
  }
}

function checkSessionFacts(events: EventContent[], pcr: number, akPublic: PublicArea, records: readonly CelRecord[], commitmentIndex: number): void {
  const session = events[0] as SessionEvent;
  if (session.pcr !== pcr) throw new VerificationError('eventlog.content', `the session event names PCR ${session.pcr}, the evidence PCR ${pcr}`);
  if (session.akName !== objectName(akPublic).toString('hex')) {
    throw new VerificationError('eventlog.content', `the session event names AK ${session.akName}, but the quotes are signed by ${objectName(akPublic).toString('hex')}`);
  }
  const committed = events[commitmentIndex]!.events;
  const prior = records.slice(0, commitmentIndex).map((r) => r.digests[0]!.digest);
  if (canonicalize(committed) !== canonicalize(prior)) {
    throw new VerificationError('eventlog.content', 'the commitment event does not list exactly the digests of the events before it');
  }
}

/** s must be recomputable from the verified inputs and r, and checkpoints numbered 0, 1, 2…. */
function checkTrainerCommitment(trainer: TrainerCommitment, events: EventContent[]): void {
  const inputs = events.filter((e): e is ArtifactEvent => e.type === 'input');
  const expected = trainerSeed(inputs, Buffer.from(String(trainer.r), 'hex')).toString('hex');
  if (trainer.protocol !== TRAINER_PROTOCOL || !/^[0-9a-f]{64}$/.test(String(trainer.r)) || trainer.seed !== expected) {
    throw new VerificationError('trainer.commitment', `the committed trainer seed ${trainer.seed} is not SHA-256 of the inputs' digests and r (expected ${expected}); the initialization and data order cannot be trusted`);
  }
  events
    .filter((e) => e.type === 'checkpoint')
    .forEach((c, i) => {
      if (c.index !== i) throw new VerificationError('trainer.commitment', `checkpoint event ${i} has index ${String(c.index)}; checkpoints must be numbered 0, 1, 2…`);
    });
}

function checkStatementMatchesLog(statementBytes: Buffer, records: readonly CelRecord[]): void {
  const signed = canonicalize(JSON.parse(statementBytes.toString('utf8')));
  const implied = canonicalize(buildRunStatement(records));
  if (signed !== implied) {
    throw new VerificationError('statement.eventlog', 'the statement differs from the one the verified event log implies (an edited subject, dependency, time or exit status)');
  }
}

function checkExit(exit: ExitEvent): void {
  if (!exit.success) {
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.exitCode}`;
    throw new VerificationError('run.exit', `the training command ${how}; this certificate records a failed run (--certify-failure) and never verifies as a success`);
  }
}

function facts(events: EventContent[], start: VerifiedQuote, end: VerifiedQuote): Record<string, unknown> {
  const session = events[0] as SessionEvent;
  const exit = events.find((e) => e.type === 'exit') as ExitEvent;
  return {
    session: session.sessionId,
    startedAt: session.startedAt,
    finishedAt: exit.finishedAt,
    tpmClockMs: { start: start.clock.toString(), end: end.clock.toString() },
    resetCount: start.resetCount,
    inputs: events.filter((e) => e.type === 'input').map((e) => ({ role: e.role, name: e.name, digest: e.digest })),
    outputs: events.filter((e) => e.type === 'output').map((e) => ({ role: e.role, name: e.name, digest: e.digest })),
  };
}
