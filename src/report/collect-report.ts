import { createHash } from 'node:crypto';
import type { AuditReport } from '../audit/audit-report.js';
import { parseCertificate, type AicertCertificate } from '../cert/certificate.js';
import type { CheckedEndorsement } from '../cert/endorsement.js';
import { InputError } from '../errors.js';
import { parseCertificateDer } from '../pki/x509-path.js';
import { readClaimedEvent, type ArtifactEvent, type RunEvent } from '../protocol/run-events.js';
import { parseAttest } from '../tpm/attest.js';
import { TPM_ALG } from '../tpm/constants.js';
import { describeRegister } from '../tpm/measurement-register.js';
import { parseNvPublic } from '../tpm/nv-public.js';
import { objectName, parsePublic2b } from '../tpm/public.js';
import { decodeBase64Strict } from '../util/base64.js';
import { AICERT_VERSION } from '../version.js';
import type { VerifiedCertificate } from '../verify/verify-certificate.js';
import type { VerifiedRun } from '../verify/verified-run.js';
import { byteSize, count } from './format-values.js';
import type { CertificateSummary, QuoteFacts, ReportModel, RunFacts, TimelineEvent } from './report-model.js';

/**
 * The report's model from a verification (Node side: it parses DER and TPM structures, which
 * the renderer never does). A verified certificate is described by its `VerifiedRun`; any other
 * by what it claims, read leniently, so that a failing certificate's page still shows what it
 * says it is. An audit report must be about this very certificate file.
 */
export function collectReport(
  bytes: Uint8Array,
  name: string,
  verification: VerifiedCertificate,
  audit?: AuditReport,
  now: Date = new Date(),
): ReportModel {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (audit && audit.certificateSha256 !== sha256) {
    throw new InputError(
      'report.audit-mismatch',
      `the audit report is about another certificate (sha256 ${audit.certificateSha256}, this one is ${sha256})`,
    );
  }
  const { report, run } = verification;
  const cert = readableCertificate(bytes);
  const facts = report.facts as { endorsements?: CheckedEndorsement[] } | undefined;
  return {
    aicertVersion: AICERT_VERSION,
    generatedAt: now.toISOString(),
    certificate: { name, sha256, bytes: bytes.length },
    verification: report,
    ...(cert && { run: runFacts(cert, run, report.akTrust) }),
    endorsements: facts?.endorsements ?? [],
    ...(audit && { audit }),
  };
}

/** The run's facts and, for a group run, every node's: verified ones when the whole group verified. */
function runFacts(cert: AicertCertificate, run: VerifiedRun | undefined, akTrust: RunFacts['akTrust']): RunFacts {
  const own = run ? verifiedFacts(run, cert, akTrust) : claimedFacts(cert, akTrust);
  const group = cert.evidence.group;
  if (!group) return own;
  const single = (rank: number): AicertCertificate => {
    const node = group.nodes.find((n) => n.rank === rank)!;
    return { mediaType: cert.mediaType, statement: node.statement, evidence: { tpm: node.tpm } };
  };
  const verifiedNodes = new Map(run?.group?.nodes.map((n) => [n.rank, n.run]));
  const nodes = group.nodes
    .map((n) => n.rank)
    .sort((a, b) => a - b)
    .map((rank) => {
      const verified = verifiedNodes.get(rank);
      const facts = verified ? verifiedFacts(verified, single(rank), akTrust) : claimedFacts(single(rank), undefined);
      return { rank, shard: group.commitment.members[rank]?.data ?? [], facts };
    });
  return {
    ...own,
    group: {
      runId: group.commitment.runId,
      ...(run?.group && { digest: run.group.digest }),
      data: group.commitment.data,
      ...(group.commitment.shardPlan && { shardPlan: group.commitment.shardPlan }),
      trainer: group.commitment.trainer !== undefined,
      nodes: [{ rank: 0, shard: group.commitment.members[0]?.data ?? [], facts: own }, ...nodes],
    },
  };
}

function readableCertificate(bytes: Uint8Array): AicertCertificate | undefined {
  try {
    return parseCertificate(bytes);
  } catch {
    return undefined; // bundle.schema failed: the checklist says why, and there is nothing to describe
  }
}

function verifiedFacts(run: VerifiedRun, cert: AicertCertificate, akTrust: RunFacts['akTrust']): RunFacts {
  const records = cert.evidence.tpm.eventLog;
  const quote = (phase: 'start' | 'end'): QuoteFacts => {
    const q = run.quotes[phase];
    const bank = q.pcrs.get(TPM_ALG.SHA256) ?? new Map<number, Buffer>();
    return {
      phase,
      clockMs: q.clock.toString(),
      resetCount: q.resetCount,
      restartCount: q.restartCount,
      pcrs: Object.fromEntries([...bank].map(([i, v]) => [String(i), v.toString('hex')])),
    };
  };
  return {
    verified: true,
    register: describeRegister(run.register),
    ...(run.pcr !== undefined && { pcr: run.pcr }),
    akName: run.akName,
    akChain: chainOf(cert),
    akTrust: { ...run.akTrust, ...(akTrust?.acceptedUntrusted && { acceptedUntrusted: true }) },
    session: run.session,
    environment: run.environment,
    inputs: run.inputs,
    command: run.command,
    commitment: run.commitment,
    commitmentIndex: run.commitmentIndex,
    checkpoints: run.checkpoints,
    exit: run.exit,
    outputs: run.outputs,
    quotes: [quote('start'), quote('end')],
    events: run.events.map((e, i) => ({
      index: i,
      type: e.type,
      digest: records[i]!.digests[0]!.digest,
      label: eventLabel(e),
    })),
    bootLogCarried: cert.evidence.tpm.bootLog !== undefined,
    ...(run.boot && { boot: run.boot }),
  };
}

/** What an unverified certificate claims: each event if it is well formed, each quote if it parses. */
function claimedFacts(cert: AicertCertificate, akTrust: RunFacts['akTrust']): RunFacts {
  const tpm = cert.evidence.tpm;
  const claimed = tpm.eventLog.map((r) => readClaimedEvent(r.content));
  const events = claimed.filter((e): e is RunEvent => e !== undefined);
  const first = <T extends RunEvent['type']>(type: T) =>
    events.find((e): e is Extract<RunEvent, { type: T }> => e.type === type);
  const artifacts = (type: 'input' | 'output') => events.filter((e): e is ArtifactEvent => e.type === type);
  const commitmentIndex = tpm.eventLog.findIndex((r) => r.content.type === 'commitment');
  const timeline: TimelineEvent[] = tpm.eventLog.map((r, i) => ({
    index: i,
    type: r.content.type,
    digest: r.digests[0]!.digest,
    label: claimed[i] ? eventLabel(claimed[i]) : '',
  }));
  return {
    verified: false,
    bootLogCarried: tpm.bootLog !== undefined,
    ...(tpm.pcr !== undefined && { pcr: tpm.pcr, register: describeRegister({ kind: 'pcr', pcr: tpm.pcr }) }),
    ...(tpm.nv &&
      optional('register', () =>
        describeRegister({ kind: 'nv', index: parseNvPublic(decodeBase64Strict(tpm.nv!.public, 'nv.public')).index }),
      )),
    ...optional('akName', () =>
      objectName(parsePublic2b(decodeBase64Strict(tpm.akPublic, 'akPublic'))).toString('hex'),
    ),
    akChain: chainOf(cert),
    ...(akTrust && { akTrust }),
    session: first('session'),
    environment: first('environment'),
    inputs: artifacts('input'),
    command: first('command'),
    commitment: first('commitment'),
    ...(commitmentIndex >= 0 && { commitmentIndex }),
    checkpoints: events.filter((e) => e.type === 'checkpoint'),
    exit: first('exit'),
    outputs: artifacts('output'),
    quotes: tpm.quotes.map((q) => {
      const clock = optional('clock', () => parseAttest(decodeBase64Strict(q.attest, 'attest')).clockInfo).clock;
      return {
        phase: q.phase,
        ...(clock && {
          clockMs: clock.clock.toString(),
          resetCount: clock.resetCount,
          restartCount: clock.restartCount,
        }),
        pcrs: { ...q.pcrs.sha256 },
      };
    }),
    events: timeline,
  };
}

/** `{ [key]: value }`, or `{}` when the claim cannot be read (the checklist says why). */
function optional<K extends string, T>(key: K, read: () => T): Partial<Record<K, T>> {
  try {
    return { [key]: read() } as Record<K, T>;
  } catch {
    return {};
  }
}

function chainOf(cert: AicertCertificate): CertificateSummary[] {
  const summaries: CertificateSummary[] = [];
  for (const [i, b64] of (cert.evidence.tpm.akCertificateChain ?? []).entries()) {
    try {
      const der = decodeBase64Strict(b64, `akCertificateChain[${i}]`);
      const { node, notBefore, notAfter } = parseCertificateDer(der, `AK certificate ${i}`);
      summaries.push({
        subject: (node.subject as string | undefined)?.replace(/\n/g, ', ') ?? '',
        issuer: (node.issuer as string | undefined)?.replace(/\n/g, ', ') ?? '',
        notBefore: notBefore.toISOString(),
        notAfter: notAfter.toISOString(),
        sha256: createHash('sha256').update(der).digest('hex'),
      });
    } catch {
      break; // ak.trust reports an unreadable chain; the page lists what precedes it
    }
  }
  return summaries;
}

/** One line for the timeline: what this event is. */
export function eventLabel(e: RunEvent): string {
  switch (e.type) {
    case 'session':
      return `session ${e.sessionId} started ${e.startedAt} (aicert ${e.aicertVersion})`;
    case 'environment':
      return `${e.os.platform} ${e.os.release} ${e.os.arch}, TPM ${e.tpm.manufacturer}`;
    case 'input':
    case 'output':
      return `${e.role} ${e.name}: ${count(e.files)} files, ${byteSize(e.bytes)}`;
    case 'command':
      return e.argv.join(' ').slice(0, 200);
    case 'commitment':
      return `commits to the ${e.events.length} events before it${e.trainer ? `; trainer seed ${e.trainer.seed.slice(0, 16)}…` : ''}`;
    case 'checkpoint':
      return `checkpoint ${e.index}: ${byteSize(e.bytes)}`;
    case 'exit':
      return e.success
        ? `exited 0 after ${(e.durationMs / 1000).toFixed(1)} s at ${e.finishedAt}`
        : `failed (${e.signal ?? `status ${e.exitCode}`}) at ${e.finishedAt}`;
  }
}
