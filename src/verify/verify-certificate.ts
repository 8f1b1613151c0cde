import type { KeyObject } from 'node:crypto';
import { AicertError, VerificationError } from '../errors.js';
import {
  parseCertificate,
  type AicertCertificate,
  type CertificateQuote,
  type QuotePhase,
} from '../cert/certificate.js';
import { pae } from '../cert/dsse.js';
import { checkEndorsement, type CheckedEndorsement } from '../cert/endorsement.js';
import { IN_TOTO_PAYLOAD_TYPE, parseStatement, type Statement } from '../cert/intoto.js';
import {
  AICERT_BUILD_TYPE,
  provenancePredicateSchema,
  SLSA_PROVENANCE_V1,
  type ProvenancePredicate,
} from '../cert/provenance.js';
import { buildRunStatement } from '../cert/run-statement.js';
import { decideAkTrust, type AkTrust, type TrustAnchors } from '../evidence/ak-trust.js';
import { checkPolicy, type Policy } from '../evidence/policy.js';
import { verifyQuote, type VerifiedQuote } from '../evidence/quote.js';
import { checkExtendIndexPublic, verifyNvCertify, type VerifiedNvCertify } from '../evidence/nv-certify.js';
import { replayEventLog, verifiedEventDigest, verifyEventLog, type CelRecord } from '../protocol/event-log.js';
import type { ArtifactEvent, ExitEvent, RunEvent } from '../protocol/run-events.js';
import { quotedPcrs } from '../protocol/quoted-pcrs.js';
import { checkCarriedBootLog, describeBootFacts, NO_BOOT_LOG, parseCarriedBootLog } from './boot-log-checks.js';
import { checkRunOrder, readRunLog, type RunLog } from '../protocol/run-log.js';
import { trainerSeed, type TrainerCommitment } from '../protocol/trainer-commitment.js';
import { finalModelProblem } from '../protocol/model-tensors.js';
import { TPM_ALG } from '../tpm/constants.js';
import { objectName, parsePublic2b, type PublicArea } from '../tpm/public.js';
import { nvName, parseNvPublic, type NvPublicArea } from '../tpm/nv-public.js';
import { describeRegister, type MeasurementRegister } from '../tpm/measurement-register.js';
import type { CertificateNvCertification } from '../cert/certificate.js';
import { decodeBase64Strict } from '../util/base64.js';
import { digest } from '../util/crypto-backend.js';
import { canonicalize, isCanonicalizable } from '../util/jcs.js';
import { findDuplicateKey } from '../util/strict-json.js';
import { checkArtifacts, type ArtifactPaths } from './artifacts.js';
import { Checklist } from './checklist.js';
import { VERIFY_CHECKS, type VerificationReport, type VerifyCheckId } from './report.js';
import type { VerifiedRun } from './verified-run.js';
import { checkGroup } from './group-checks.js';

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

export interface VerifiedCertificate {
  report: VerificationReport;
  /** Present only when the certificate verified. */
  run?: VerifiedRun;
}

/**
 * Verifies an aicert certificate (docs/certificate.md). Reads as the list of checks it runs; each
 * step records `ok` with what it established, or `failed` with why, and the first failure ends
 * the list: nothing after a failed check is believed. Untrusted bytes in, a VerifiedRun out.
 */
export async function verifyCertificate(
  bytes: Uint8Array,
  name: string,
  o: VerifyOptions,
  /** Verifying one node of a group run, from inside its certificate's verification: no group checks. */
  groupNode = false,
): Promise<VerifiedCertificate> {
  const list = new Checklist(VERIFY_CHECKS);
  let akTrust: VerificationReport['akTrust'];
  let run: VerifiedRun | undefined;
  let endorsements: CheckedEndorsement[] = [];
  await list.run(async () => {
    const cert = await list.step(
      'bundle.schema',
      () => parseCertificate(bytes),
      () => 'the file is an aicert v1 certificate',
    );
    const tpm = cert.evidence.tpm;
    const { bytes: statementBytes, statement } = await list.step(
      'statement.schema',
      () => statementPayload(cert),
      () => 'the statement is an in-toto Statement v1 with a SLSA Provenance v1 predicate of aicert build type',
    );
    const akPublic = await list.step(
      'ak.public',
      () => parsePublic2b(decodeBase64Strict(tpm.akPublic, 'akPublic')),
      (ak) => `attestation key ${objectName(ak).toString('hex')}`,
    );
    const trust = await list.step(
      'ak.trust',
      () => akTrustOf(akPublic, cert, o),
      (t) => t.reason,
    );
    akTrust = {
      level: trust.level,
      reason: trust.reason,
      ...(trust.level === 'untrusted' && { acceptedUntrusted: true }),
    };

    const records = tpm.eventLog;
    const commitmentIndex = await list.step(
      'eventlog.order',
      () => checkRunOrder(records.map((r) => r.content.type)),
      (i) => `${records.length} events in a valid order; inputs committed by event ${i}`,
    );
    const register = await list.step(
      'register',
      () => readRegister(tpm),
      (r) => r.reason,
    );
    const bootLog =
      tpm.bootLog === undefined
        ? undefined
        : await list.step(
            'bootlog.format',
            () => parseCarriedBootLog(tpm.bootLog!),
            (b) =>
              `a TCG boot event log of ${b.log.events.length} events over PCRs ${b.pcrs.join(', ')}, which the quotes must cover`,
          );
    if (!bootLog) list.skipped('bootlog.format', NO_BOOT_LOG);
    const startNonce = await verifiedEventDigest(records[commitmentIndex]!.content);
    const endNonce = await digest('SHA-256', pae(IN_TOTO_PAYLOAD_TYPE, statementBytes));
    const start = await list.step(
      'quote.start',
      () => checkQuote(tpm.quotes[0], akPublic, register.register, startNonce, 'start', bootLog?.pcrs),
      (q) => `start quote verified (clock ${q.clock}, resetCount ${q.resetCount})`,
    );
    const end = await list.step(
      'quote.end',
      () => checkQuote(tpm.quotes[1], akPublic, register.register, endNonce, 'end', bootLog?.pcrs),
      (q) => `end quote verified (clock ${q.clock}, resetCount ${q.resetCount})`,
    );
    let certified: { start: VerifiedNvCertify; end: VerifiedNvCertify } | undefined;
    if (register.nv) {
      const { public: nvPublic, certifications } = register.nv;
      const nvStart = await list.step(
        'nv.start',
        () => checkNvCertification(certifications[0], akPublic, nvPublic, startNonce),
        (c) => `start NV certification of ${describeRegister(register.register)} verified (clock ${c.clock})`,
      );
      const nvEnd = await list.step(
        'nv.end',
        () => checkNvCertification(certifications[1], akPublic, nvPublic, endNonce),
        (c) => `end NV certification of ${describeRegister(register.register)} verified (clock ${c.clock})`,
      );
      certified = { start: nvStart, end: nvEnd };
    }
    list.ok(
      'quote.binding',
      certified
        ? 'the start quote and NV certification are bound to the input commitment, the end ones to the exact statement bytes'
        : 'the start quote is bound to the input commitment, the end quote to the exact statement bytes',
    );
    await list.step(
      'quote.continuity',
      () => checkContinuity(start, end, certified),
      () =>
        certified
          ? 'the quotes and NV certifications come from one boot with no TPM restart, and the TPM clock moved forward'
          : 'no reboot or TPM restart between the quotes, and the TPM clock moved forward',
    );
    const boot =
      bootLog &&
      (await list.step(
        'boot.eventlog',
        () => checkCarriedBootLog(bootLog.log, start, end),
        (b) =>
          `the boot event log replays to the quoted ${b.bank} PCRs ${b.pcrs.join(', ')}; only their events are believed`,
      ));
    if (boot) list.ok('boot.facts', describeBootFacts(boot.facts));
    else {
      list.skipped('boot.eventlog', NO_BOOT_LOG);
      list.skipped('boot.facts', NO_BOOT_LOG);
    }

    const startValue = certified?.start.contents ?? start.pcrs.get(TPM_ALG.SHA256)!.get(pcrOf(register.register))!;
    const endValue = certified?.end.contents ?? end.pcrs.get(TPM_ALG.SHA256)!.get(pcrOf(register.register))!;
    const where = describeRegister(register.register);
    await list.step(
      'eventlog.replay',
      () => checkReplay(records, commitmentIndex, where, startValue, endValue),
      () => `the event log replays to the attested ${where} at start and at end`,
    );
    const { events, log } = await list.step(
      'eventlog.content',
      async () => {
        const verified = await verifyEventLog(records, register.register, endValue);
        const runLog = readRunLog(verified);
        checkSessionFacts(runLog, register, akPublic, records);
        return { events: verified, log: runLog };
      },
      () => `every event digest is the digest of its content; the session names this AK and ${where}`,
    );
    const trainer = log.commitment.trainer;
    if (trainer)
      await list.step(
        'trainer.commitment',
        () => checkTrainerCommitment(trainer, log),
        () =>
          `the trainer's seed s derives from the inputs' digests and r (${trainer.rSource}); ${log.checkpoints.length} checkpoints measured live`,
      );
    const verifiedRecords = records.map((r, i) => ({ ...r, content: events[i]! }));
    await list.step(
      'statement.eventlog',
      () => checkStatementMatchesLog(statementBytes, verifiedRecords),
      () => 'the statement is exactly the one the verified event log implies',
    );
    await list.step(
      'run.exit',
      () => checkExit(log.exit),
      () => 'the training command exited with status 0',
    );
    if (trainer)
      await list.step(
        'trainer.final',
        () => checkTrainerFinal(log),
        () =>
          `the output model's tensors are exactly the weights of the last checkpoint (${log.checkpoints.at(-1)!.index}), the end of the training the audit replays`,
      );

    const group = groupNode
      ? undefined
      : await checkGroup(list, cert, { log, akName: objectName(akPublic).toString('hex') }, o.policy, (b, n) =>
          // Each node is held to the same trust and policy; local copies of artifacts are rank 0's.
          verifyCertificate(
            b,
            n,
            { trust: o.trust, allowUntrustedAk: o.allowUntrustedAk, policy: o.policy, now: o.now },
            true,
          ),
        );
    if (o.policy)
      list.absorb(
        checkPolicy(o.policy, {
          register: register.register,
          quotedPcrs: end.pcrs.get(TPM_ALG.SHA256)!,
          inputs: log.inputs,
          akTrust: trust,
          isolation: log.command.isolation ?? { mode: 'none' },
          ...(boot && { boot: boot.facts }),
        }),
      );
    else list.skipped('policy', 'no --policy given: boot PCRs and allowed inputs are not checked');
    list.absorb(await checkArtifacts(log, o));
    endorsements = checkEndorsements(list, bytes, statement.subject, o);
    const certificateSha256 = (await digest('SHA-256', bytes)).toString('hex');
    run = {
      ...log,
      certificateSha256,
      register: register.register,
      ...(register.register.kind === 'pcr' && { pcr: register.register.pcr }),
      akName: objectName(akPublic).toString('hex'),
      akTrust: trust,
      quotes: { start, end },
      ...(certified && { nvCertifications: certified }),
      events,
      ...(boot && { boot: boot.facts }),
      statement,
      ...(group && { group }),
    };
  });
  return { report: report(name, list, akTrust, run && facts(run, endorsements)), ...(run && { run }) };
}

function report(
  name: string,
  list: Checklist<VerifyCheckId>,
  akTrust: VerificationReport['akTrust'],
  facts?: Record<string, unknown>,
): VerificationReport {
  const failure = list.failure?.result;
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
function checkEndorsements(
  list: Checklist<VerifyCheckId>,
  certificateBytes: Uint8Array,
  subject: Statement['subject'],
  o: VerifyOptions,
): CheckedEndorsement[] {
  const given = o.endorsements ?? [];
  const auditors = o.trustedAuditors ?? [];
  if (given.length === 0 && auditors.length === 0) return [];
  if (given.length === 0)
    list.fail(
      'audit.endorsement',
      'auditors are trusted (--trust-auditor) but no endorsement was found (--endorsement FILE)',
    );
  return given.map(({ name, bytes }) => {
    try {
      const e = checkEndorsement(bytes, certificateBytes, subject, auditors);
      list.ok(
        'audit.endorsement',
        `${name}: ${e.auditor} vouched ${e.result} (${e.levels.join(', ')}) at ${e.timeVerified}`,
      );
      return e;
    } catch (err) {
      if (!(err instanceof AicertError)) throw err;
      const id = (VERIFY_CHECKS as readonly string[]).includes(err.code)
        ? (err.code as VerifyCheckId)
        : 'audit.endorsement';
      return list.fail(id, `${name}: ${err.message}`);
    }
  });
}

function statementPayload(cert: AicertCertificate): { bytes: Buffer; statement: Statement<ProvenancePredicate> } {
  const envelope = cert.statement;
  // No signer keys are trusted for statement signatures yet, so one present could only ride along unchecked.
  if (envelope.signatures.length > 0) {
    throw new VerificationError(
      'statement.signatures',
      `the statement envelope carries ${envelope.signatures.length} DSSE signature(s) that aicert does not check; a certificate's statement is vouched for by its TPM quotes only`,
    );
  }
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new VerificationError(
      'statement.schema',
      `the statement's payload type is ${JSON.stringify(envelope.payloadType)}, not ${IN_TOTO_PAYLOAD_TYPE}`,
    );
  }
  const bytes = decodeBase64Strict(envelope.payload, 'statement payload');
  const statement = parseStatement(
    bytes,
    { predicateType: SLSA_PROVENANCE_V1, predicate: provenancePredicateSchema },
    'statement',
  );
  // Readers that keep the first of two equal keys would see another statement than this verifier.
  const duplicate = findDuplicateKey(bytes.toString('utf8'));
  if (duplicate !== undefined)
    throw new VerificationError('statement.schema', `the statement repeats the key "${duplicate}" in one object`);
  if (!isCanonicalizable(JSON.parse(bytes.toString('utf8'))))
    throw new VerificationError(
      'statement.schema',
      'the statement holds a number out of range or nesting too deep for canonical JSON',
    );
  if (statement.predicate.buildDefinition.buildType !== AICERT_BUILD_TYPE) {
    throw new VerificationError(
      'statement.schema',
      `the build type is ${statement.predicate.buildDefinition.buildType}, not ${AICERT_BUILD_TYPE}`,
    );
  }
  return { bytes, statement };
}

function akTrustOf(akPublic: PublicArea, cert: AicertCertificate, o: VerifyOptions): AkTrust {
  const chain = (cert.evidence.tpm.akCertificateChain ?? []).map((c, i) =>
    decodeBase64Strict(c, `akCertificateChain[${i}]`),
  );
  return decideAkTrust(akPublic, chain, { ...o, pinnedAks: o.policy?.pinnedAks });
}

/**
 * The register the certificate claims: for an NV index, its public area must be an extend index
 * only its run could write (`checkExtendIndexPublic`); a PCR is reported as the weaker fallback.
 */
interface ClaimedRegister {
  register: MeasurementRegister;
  nv?: {
    public: NvPublicArea;
    name: Buffer;
    certifications: readonly [CertificateNvCertification, CertificateNvCertification];
  };
  reason: string;
}

function readRegister(tpm: AicertCertificate['evidence']['tpm']): ClaimedRegister {
  if (tpm.nv) {
    const area = parseNvPublic(decodeBase64Strict(tpm.nv.public, 'nv.public'));
    checkExtendIndexPublic(area);
    const name = nvName(area);
    return {
      register: { kind: 'nv', index: area.index },
      nv: { public: area, name, certifications: tpm.nv.certifications },
      reason: `the run measured into NV extend index 0x${area.index.toString(16)} (Name ${name.toString('hex')}), which only the run's own key could write`,
    };
  }
  const pcr = tpm.pcr!;
  return {
    register: { kind: 'pcr', pcr },
    reason: `WARNING: the run measured into PCR ${pcr} (--register pcr23), not an NV extend index${RESETTABLE_PCRS.includes(pcr) ? `: PCR ${pcr} is resettable at locality 0, so anyone who reaches the TPM can reset it and replay or invent a run's log` : ''}`,
  };
}

/** PCRs a TPM resets at locality 0 (PC Client profile: the debug PCR 16 and the application PCR 23). */
const RESETTABLE_PCRS = [16, 23];

function pcrOf(register: MeasurementRegister): number {
  if (register.kind !== 'pcr') throw new Error('not a PCR register');
  return register.pcr;
}

async function checkNvCertification(
  c: CertificateNvCertification,
  akPublic: PublicArea,
  nvPublic: NvPublicArea,
  nonce: Buffer,
): Promise<VerifiedNvCertify> {
  try {
    return await verifyNvCertify(
      {
        attest: decodeBase64Strict(c.attest, `${c.phase} NV certification attest`),
        signature: decodeBase64Strict(c.signature, `${c.phase} NV certification signature`),
        akPublic,
        nvPublic,
      },
      { nonce },
    );
  } catch (err) {
    if (!(err instanceof AicertError)) throw err;
    const what = c.phase === 'start' ? 'the input commitment' : 'the statement';
    if (err.code === 'nv.nonce')
      throw new VerificationError(
        'nv.binding',
        `the ${c.phase} NV certification is not bound to ${what} of this certificate (${err.message})`,
      );
    const id = err instanceof VerificationError ? err.code : 'nv.signature';
    throw new VerificationError(id, `${c.phase} NV certification: ${err.message}`);
  }
}

async function checkQuote(
  q: CertificateQuote,
  akPublic: PublicArea,
  register: MeasurementRegister,
  nonce: Buffer,
  phase: QuotePhase,
  bootLogPcrs?: readonly number[],
): Promise<VerifiedQuote> {
  const pcrs = new Map<number, Buffer>(
    Object.entries(q.pcrs.sha256).map(([k, v]) => [Number(k), Buffer.from(v, 'hex')]),
  );
  const selection = [{ hashAlg: TPM_ALG.SHA256, pcrs: quotedPcrs(register, bootLogPcrs) }];
  try {
    return await verifyQuote(
      {
        attest: decodeBase64Strict(q.attest, `${phase} quote attest`),
        signature: decodeBase64Strict(q.signature, `${phase} quote signature`),
        akPublic,
        pcrs: new Map([[TPM_ALG.SHA256, pcrs]]),
      },
      { nonce, selection },
    );
  } catch (err) {
    if (!(err instanceof AicertError)) throw err;
    // Name the failure by the quote check, with the phase in the reason; a nonce mismatch is a binding failure.
    const id =
      err.code === 'quote.nonce' ? 'quote.binding' : err instanceof VerificationError ? err.code : 'quote.signature';
    const what = phase === 'start' ? 'the input commitment' : 'the statement';
    const detail =
      err.code === 'quote.nonce'
        ? `the ${phase} quote is not bound to ${what} of this certificate (${err.message})`
        : `${phase} quote: ${err.message}`;
    throw new VerificationError(id, detail);
  }
}

/**
 * One boot, no restart, the clock moving forward: between the quotes and, for an NV register,
 * between the NV certifications, which must also come from the quotes' boot.
 */
function checkContinuity(
  start: VerifiedQuote,
  end: VerifiedQuote,
  certified?: { start: VerifiedNvCertify; end: VerifiedNvCertify },
): void {
  checkPairContinuity(start, end, 'quotes');
  if (!certified) return;
  checkPairContinuity(certified.start, certified.end, 'NV certifications');
  if (certified.start.resetCount !== start.resetCount || certified.start.restartCount !== start.restartCount)
    throw new VerificationError(
      'quote.continuity',
      `the NV certifications come from another boot or TPM restart than the quotes (resetCount ${certified.start.resetCount}/${start.resetCount}, restartCount ${certified.start.restartCount}/${start.restartCount})`,
    );
}

function checkPairContinuity(
  start: { resetCount: number; restartCount: number; clock: bigint },
  end: { resetCount: number; restartCount: number; clock: bigint },
  what: string,
): void {
  if (start.resetCount !== end.resetCount) {
    throw new VerificationError(
      'quote.continuity',
      `the TPM was reset (rebooted) between the ${what}: resetCount ${start.resetCount} at start, ${end.resetCount} at end`,
    );
  }
  if (start.restartCount !== end.restartCount) {
    throw new VerificationError(
      'quote.continuity',
      `the TPM was restarted between the ${what}: restartCount ${start.restartCount} at start, ${end.restartCount} at end`,
    );
  }
  if (end.clock <= start.clock) {
    throw new VerificationError(
      'quote.continuity',
      `the TPM clock did not move forward: ${start.clock} ms at start, ${end.clock} ms at end (${what} swapped or replayed)`,
    );
  }
}

async function checkReplay(
  records: readonly CelRecord[],
  commitmentIndex: number,
  where: string,
  startValue: Buffer,
  endValue: Buffer,
): Promise<void> {
  const prefix = await replayEventLog(records.slice(0, commitmentIndex + 1));
  if (!prefix.equals(startValue)) {
    throw new VerificationError(
      'eventlog.replay',
      `the events up to the commitment replay to ${where} = ${prefix.toString('hex')}, the start attestation shows ${startValue.toString('hex')}`,
    );
  }
  const all = await replayEventLog(records);
  if (!all.equals(endValue)) {
    throw new VerificationError(
      'eventlog.replay',
      `the ${records.length} events replay to ${where} = ${all.toString('hex')}, the end attestation shows ${endValue.toString('hex')}`,
    );
  }
}

function checkSessionFacts(
  { session, commitment, commitmentIndex }: RunLog,
  claimed: ClaimedRegister,
  akPublic: PublicArea,
  records: readonly CelRecord[],
): void {
  const { register, nv } = claimed;
  const named: string[] = [];
  if (session.pcr !== undefined) named.push(`PCR ${session.pcr}`);
  if (session.nvIndex !== undefined) named.push(`NV index 0x${session.nvIndex.toString(16)}`);
  const matches =
    named.length === 1 &&
    (register.kind === 'pcr'
      ? session.pcr === register.pcr && session.nvName === undefined
      : session.nvIndex === register.index && session.nvName === nv!.name.toString('hex'));
  if (!matches)
    throw new VerificationError(
      'eventlog.content',
      `the session event names ${named.join(' and ') || 'no register'}${session.nvName ? ` (Name ${session.nvName})` : ''}, the evidence ${describeRegister(register)}${nv ? ` (Name ${nv.name.toString('hex')})` : ''}`,
    );
  if (session.akName !== objectName(akPublic).toString('hex')) {
    throw new VerificationError(
      'eventlog.content',
      `the session event names AK ${session.akName}, but the quotes are signed by ${objectName(akPublic).toString('hex')}`,
    );
  }
  const prior = records.slice(0, commitmentIndex).map((r) => r.digests[0]!.digest);
  if (canonicalize(commitment.events) !== canonicalize(prior)) {
    throw new VerificationError(
      'eventlog.content',
      'the commitment event does not list exactly the digests of the events before it',
    );
  }
}

/** s must be recomputable from the verified inputs and r, and checkpoints numbered 0, 1, 2…. */
function checkTrainerCommitment(trainer: TrainerCommitment, { inputs, checkpoints, commitment }: RunLog): void {
  // The event's schema already holds r and s to 64 hex digits and the protocol to TRAINER_PROTOCOL.
  if (trainer.rSource === 'group' && (commitment.group === undefined || commitment.group.rank === 0))
    throw new VerificationError(
      'trainer.commitment',
      "the trainer's r is said to come from a group commitment, but this run is not a node of rank ≥ 1 of a group",
    );
  const expected = trainerSeed(inputs, Buffer.from(trainer.r, 'hex')).toString('hex');
  if (trainer.seed !== expected) {
    throw new VerificationError(
      'trainer.commitment',
      `the committed trainer seed ${trainer.seed} is not SHA-256 of the inputs' digests and r (expected ${expected}); the initialization and data order cannot be trusted`,
    );
  }
  checkpoints.forEach((c, i) => {
    if (c.index !== i)
      throw new VerificationError(
        'trainer.commitment',
        `checkpoint event ${i} has index ${c.index}; checkpoints must be numbered 0, 1, 2…`,
      );
  });
}

/**
 * The shipped model is the training's last state: the output model's per-tensor digests must make
 * up exactly the weights digest recorded for the last checkpoint (names, dtypes, shapes, bytes).
 * Anything that prevents the comparison fails: the audit vouches for that checkpoint, not for
 * whatever else the command wrote.
 */
function checkTrainerFinal({ checkpoints, outputs }: RunLog): void {
  const problem = finalModelProblem(checkpoints, outputs);
  if (problem) throw new VerificationError('trainer.final', problem);
}

function checkStatementMatchesLog(statementBytes: Buffer, records: readonly CelRecord<RunEvent>[]): void {
  const signed = canonicalize(JSON.parse(statementBytes.toString('utf8')));
  const implied = canonicalize(buildRunStatement(records));
  if (signed !== implied) {
    throw new VerificationError(
      'statement.eventlog',
      'the statement differs from the one the verified event log implies (an edited subject, dependency, time or exit status)',
    );
  }
}

function checkExit(exit: ExitEvent): void {
  if (!exit.success) {
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.exitCode}`;
    throw new VerificationError(
      'run.exit',
      `the training command ${how}; this certificate records a failed run (--certify-failure) and never verifies as a success`,
    );
  }
}

function facts(run: VerifiedRun, endorsements: CheckedEndorsement[]): Record<string, unknown> {
  const { start, end } = run.quotes;
  const described = (e: ArtifactEvent) => ({ role: e.role, name: e.name, digest: e.digest });
  return {
    session: run.session.sessionId,
    startedAt: run.session.startedAt,
    finishedAt: run.exit.finishedAt,
    tpmClockMs: { start: start.clock.toString(), end: end.clock.toString() },
    resetCount: start.resetCount,
    register: describeRegister(run.register),
    inputs: run.inputs.map(described),
    outputs: run.outputs.map(described),
    ...(run.group && {
      group: {
        runId: run.group.commitment.runId,
        digest: run.group.digest,
        nodes: [
          { rank: 0, akName: run.akName, akTrust: run.akTrust.level, session: run.session.sessionId },
          ...run.group.nodes.map(({ rank, run: node }) => ({
            rank,
            akName: node.akName,
            akTrust: node.akTrust.level,
            session: node.session.sessionId,
          })),
        ].map((n) => ({ ...n, shard: run.group!.commitment.members[n.rank]!.data })),
        data: run.group.commitment.data,
      },
    }),
    ...(endorsements.length > 0 && { endorsements }),
  };
}
