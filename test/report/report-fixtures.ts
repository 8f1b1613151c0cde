/**
 * Report models for the renderer's tests: a run as `collectReport` would describe it, with every
 * string a parameter so that tests can put hostile text (markup, quotes, control characters) in
 * each place certificate text reaches the page. The browser test renders real certificates.
 */
import type { AuditReport } from '../../src/audit/audit-report.js';
import type { ReportModel, RunFacts, TimelineEvent } from '../../src/report/report-model.js';
import type { VerificationReport } from '../../src/verify/report.js';

const hex = (n: number, c: string) => c.repeat(n * 2);

/** A verified report model whose run has `checkpoints` checkpoint events; `text` goes into every free-text field. */
export function sampleModel(text = 'train.jsonl', checkpoints = 3): ReportModel {
  const events: TimelineEvent[] = [];
  const push = (type: string, label: string) =>
    events.push({ index: events.length, type, digest: hex(32, (events.length % 10).toString()), label });
  push('session', `session started (${text})`);
  push('environment', `linux 6.1 x64, TPM ${text}`);
  push('input', `code ${text}`);
  push('input', `dataset ${text}`);
  push('command', `node train.js ${text}`);
  push('commitment', 'commits to the 5 events before it');
  for (let i = 0; i < checkpoints; i++) push('checkpoint', `checkpoint ${i}: 120 bytes`);
  push('exit', 'exited 0 after 1.0 s');
  push('output', `model ${text}`);
  const artifact = (type: 'input' | 'output', role: 'code' | 'dataset' | 'model', c: string) => ({
    type,
    role,
    name: text,
    digest: { sha256: hex(32, c) },
    files: 2,
    bytes: 123_456,
    ...(role === 'code' && { git: { commit: hex(20, 'c'), dirty: true } }),
    ...(role === 'dataset' && {
      records: [
        {
          path: text,
          format: 'jsonl' as const,
          records: 3,
          distinctRecords: 3,
          orderRoot: hex(32, 'd'),
          setRoot: hex(32, 'e'),
          leafHash: 'sha256(0x00 || record)' as const,
        },
      ],
    }),
  });
  const run: RunFacts = {
    verified: true,
    register: 'PCR 23',
    pcr: 23,
    akName: `000b${hex(32, 'a')}`,
    akChain: [
      {
        subject: `CN=${text}`,
        issuer: `CN=CA ${text}`,
        notBefore: '2026-01-01T00:00:00.000Z',
        notAfter: '2027-01-01T00:00:00.000Z',
        sha256: hex(32, 'f'),
      },
    ],
    akTrust: { level: 'ca', reason: `the AK certificate chains to ${text}`, subject: text, issuer: text },
    session: {
      type: 'session',
      sessionId: hex(16, '1'),
      nonce: hex(32, '2'),
      startedAt: '2026-12-05T12:00:00.000Z',
      pcr: 23,
      akName: `000b${hex(32, 'a')}`,
      aicertVersion: text,
    },
    environment: {
      type: 'environment',
      os: { platform: 'linux', release: text, arch: 'x64' },
      node: 'v20.20.2',
      cpu: { model: text, count: 2 },
      memoryBytes: 8 * 1024 ** 3,
      tpm: { manufacturer: text, vendor: 'SW', firmware: '1.2' },
    },
    inputs: [artifact('input', 'code', '3'), artifact('input', 'dataset', '4')],
    command: {
      type: 'command',
      argv: ['node', 'train.js', text],
      output: text,
      isolation: {
        mode: 'namespaces',
        namespaces: ['user', 'mount', 'network'],
        hidden: ['tpm-device', 'aicert-state'],
        capabilities: 'none',
        network: 'none',
      },
    },
    commitment: { type: 'commitment', events: [hex(32, '0')] },
    commitmentIndex: 5,
    checkpoints: [],
    exit: {
      type: 'exit',
      exitCode: 0,
      signal: null,
      success: true,
      durationMs: 1000,
      finishedAt: '2026-12-05T12:00:01.000Z',
    },
    outputs: [artifact('output', 'model', '5')],
    quotes: [
      {
        phase: 'start',
        clockMs: '1000',
        resetCount: 1,
        restartCount: 0,
        pcrs: { '0': hex(32, '0'), '23': hex(32, '6') },
      },
      {
        phase: 'end',
        clockMs: '2000',
        resetCount: 1,
        restartCount: 0,
        pcrs: { '0': hex(32, '0'), '23': hex(32, '7') },
      },
    ],
    events,
    bootLogCarried: true,
    boot: {
      bank: 'sha256',
      secureBoot: true,
      secureBootVariables: { PK: { sha256: hex(32, '9'), bytes: 900 }, db: { sha256: hex(32, 'b'), bytes: 3000 } },
      bootApplications: [
        { seq: 12, pcr: 4, digest: hex(32, 'c'), path: `\\EFI\\BOOT\\${text}` },
        { seq: 20, pcr: 4, digest: hex(32, 'e'), path: null },
      ],
      kernelCommandLines: [`/vmlinuz-${text} root=/dev/sda1 ro`],
      kernels: [{ seq: 31, path: `/vmlinuz-${text}`, digest: hex(32, 'f') }],
      grubCommands: Array.from({ length: 10 }, (_, i) => `set root=${i} ${text}`),
      grubFiles: [{ seq: 30, path: `/grub/${text}.cfg`, digest: hex(32, '1') }],
      shim: [{ seq: 8, name: `MokList ${text}`, digest: hex(32, '2') }],
      separators: [0, 1, 2, 3, 4, 5, 6, 7],
      problems: [],
    },
  };
  const verification: VerificationReport = {
    certificate: text,
    verdict: 'verified',
    exitStatus: 0,
    akTrust: { level: 'ca', reason: `trusted (${text})` },
    checks: [
      { id: 'bundle.schema', status: 'ok', reason: 'the file is an aicert v1 certificate' },
      { id: 'ak.trust', status: 'ok', reason: `the AK certificate chains to ${text}` },
      { id: 'policy', status: 'skipped', reason: 'no --policy given' },
    ],
  };
  return {
    aicertVersion: '0.0.0-test',
    generatedAt: '2026-12-05T12:00:02.000Z',
    certificate: { name: text, sha256: hex(32, '8'), bytes: 4096 },
    verification,
    run,
    endorsements: [{ auditor: text, timeVerified: '2026-12-05T12:00:03Z', result: 'PASSED', levels: [text] }],
    audit: sampleAudit(text),
  };
}

/** The same model, failed at `failedId` with `reason`: not verified, and the run only claimed. */
export function failedModel(
  failedId: 'quote.end' | 'eventlog.replay',
  reason: string,
  text = 'train.jsonl',
): ReportModel {
  const m = sampleModel(text);
  return {
    ...m,
    verification: {
      ...m.verification,
      verdict: 'not verified',
      exitStatus: 1,
      checks: [...m.verification.checks.slice(0, 2), { id: failedId, status: 'failed', reason }],
    },
    run: { ...m.run!, verified: false },
    endorsements: [],
  };
}

/**
 * An audit report of the fields every version of the format has (audit-report.ts is growing
 * power and `inconclusive`; the renderer shows optional fields only when present).
 */
export function sampleAudit(text: string): AuditReport {
  const segment = (index: number, ratio: number, auc: number) => ({
    index,
    firstStep: index * 10,
    steps: 10,
    chosenBy: index < 2 ? ('top-q' as const) : ('random' as const),
    updateNorm: 0.5 + index / 10,
    replay: {
      accepted: ratio < 1e-3,
      digestEqual: ratio === 0,
      distance: ratio * 0.5,
      replayedUpdate: 0.5,
      optimizerDistance: ratio * 0.1,
      optimizerReplayedUpdate: 0.1,
      reason: `replayed (${text})`,
    },
    memorization: {
      members: 64,
      heldOut: 64,
      u: 2500,
      auc,
      z: 1.5,
      p: 0.07,
      medianDrop: { members: auc / 10, heldOut: 0.03 },
    },
  });
  const report = {
    mediaType: 'application/vnd.aicert.audit-report.v1+json',
    certificate: text,
    certificateSha256: hex(32, '8'),
    verdict: 'passed',
    exitStatus: 0,
    auditSeed: hex(32, '9'),
    parameters: { topQ: 2, random: 4, tolerance: { mode: 'calibrated' }, members: 64, alpha: 0.01 },
    checks: [{ id: 'replay', status: 'ok', reason: `6 segments reproduced (${text})` }],
    verification: { verdict: 'verified', checks: [] },
    segments: [segment(0, 0, 0.61), segment(1, 2e-6, 0.58), segment(4, 3e-5, 0.55), segment(7, 1e-4, 0.64)],
    calibration: { segments: [3], ratios: [1e-5], margin: 10, delta: 1e-4, maxDelta: 0.01 },
    memorization: { segments: 4, z: 3.1, p: 0.001, alpha: 0.01, passed: true, meanAuc: 0.595 },
    detection: { fakeFraction: 0.1, random: 4, probability: 0.3439 },
    cost: {
      totalSteps: 600,
      replayedSteps: 70,
      lossEvaluations: 512,
      lossStepEquivalents: 21,
      replayFraction: 0.117,
      totalFraction: 0.15,
    },
  };
  return report as unknown as AuditReport;
}
