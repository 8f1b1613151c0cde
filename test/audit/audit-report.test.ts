import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assertProperty } from '../util/property.js';
import { AUDIT_REPORT_MEDIA_TYPE, parseAuditReport, type AuditReport } from '../../src/audit/audit-report.js';
import { formatAuditReport } from '../../src/audit/format-audit-report.js';
import { InputError } from '../../src/errors.js';

const report: AuditReport = {
  mediaType: AUDIT_REPORT_MEDIA_TYPE,
  certificate: 'model.aicert.json',
  certificateSha256: 'ab'.repeat(32),
  verdict: 'failed',
  exitStatus: 1,
  auditSeed: 'cd'.repeat(32),
  parameters: {
    topQ: 2,
    random: 45,
    tolerance: { mode: 'relative', delta: 1e-4 },
    members: 256,
    alpha: 0.01,
    unusedFraction: 0.5,
    requiredPower: 0.95,
  },
  size: { topQ: 2, random: 31, note: '31 random segments instead of 45: enough for this run' },
  run: {
    seed: 'ef'.repeat(32),
    checkpointEvery: 10,
    steps: 600,
    segments: 60,
    batchSize: 8,
    records: 4000,
    heldOut: 400,
    hyperparameters: { learningRate: 0.2 },
  },
  checks: [
    { id: 'certificate', status: 'ok', reason: 'the certificate verifies' },
    { id: 'replay', status: 'failed', reason: '1 of 2 audited segments were not reproduced' },
  ],
  verification: { verdict: 'verified', checks: [] },
  segments: [
    {
      index: 5,
      firstStep: 50,
      steps: 10,
      chosenBy: 'top-q',
      updateNorm: 3.2,
      replay: { accepted: true, digestEqual: true, distance: 0, replayedUpdate: 3.2, reason: 'same' },
    },
    {
      index: 9,
      firstStep: 90,
      steps: 10,
      chosenBy: 'random',
      updateNorm: 1.1,
      replay: { accepted: false, digestEqual: false, distance: 2, replayedUpdate: 3, reason: 'elsewhere' },
    },
  ],
  detection: { fakeFraction: 0.1, random: 45, probability: 0.9913, withoutReplacement: 0.9932 },
  cost: {
    totalSteps: 600,
    replayedSteps: 20,
    lossEvaluations: 0,
    lossStepEquivalents: 0,
    replayFraction: 0.033,
    totalFraction: 0.033,
  },
};

test('a report survives JSON and parses back unchanged', () => {
  assert.deepEqual(parseAuditReport(JSON.parse(JSON.stringify(report))), report);
});

test('the text rendering shows every check, each segment and the verdict', () => {
  const text = formatAuditReport(report);
  assert.match(text, /FAILED\s+replay/);
  assert.match(text, /^\s+9\s+90-99\s+random\s+1\.10\s+NOT REPRODUCED/m);
  assert.match(text, /probability ≥ 1 − \(1 − 0\.1\)\^45 = 99\.13 %/);
  assert.match(text, /verdict: FAILED$/m);
});

test('an inconclusive audit says so: its power against each unused fraction, the bound, and the verdict', () => {
  const inconclusive: AuditReport = {
    ...report,
    verdict: 'inconclusive',
    checks: [
      { id: 'replay', status: 'ok', reason: 'all reproduced' },
      { id: 'memorization', status: 'failed', reason: 'inconclusive: power 0.001 < 0.95' },
    ],
    memorization: {
      segments: 33,
      members: 8000,
      heldOut: 900,
      information: 870,
      z: 6.1,
      p: 5e-10,
      auc: 0.6,
      aucStandardError: 0.012,
      unusedFraction: 0.5,
      unusedZ: -9,
      unusedP: 1,
      unusedBound: 0.84,
      power: [
        { unusedFraction: 1, power: 1 },
        { unusedFraction: 0.5, power: 0.001 },
        { unusedFraction: 0.2, power: 0 },
      ],
      requiredPower: 0.95,
      powered: false,
      alpha: 0.01,
      outcome: 'inconclusive',
      meanAuc: 0.59,
    },
  };
  assert.deepEqual(parseAuditReport(JSON.parse(JSON.stringify(inconclusive))), inconclusive);
  const text = formatAuditReport(inconclusive);
  assert.match(text, /at most 84\.0 % of the claimed records went unused/);
  assert.match(
    text,
    /power 1\.000 against 100\.0 %, 0\.001 against 50\.0 %, 0\.000 against 20\.0 % unused: INCONCLUSIVE/,
  );
  assert.match(text, /31 random segments instead of 45/);
  assert.match(text, /verdict: INCONCLUSIVE$/m);
});

test("the text escapes control characters in what the prover controls: reasons (the trainer's output) and names", () => {
  const hostile: AuditReport = {
    ...report,
    certificate: 'model\x1b[8m.aicert.json',
    checks: [
      { id: 'certificate', status: 'ok', reason: 'the certificate verifies' },
      {
        id: 'init',
        status: 'failed',
        reason:
          'the trainer (init mode) exited with status 1; its last output: \x1b[2J\x1b]0;t\x07\nverdict: PASSED\r\u202e',
      },
    ],
  };
  const text = formatAuditReport(hostile);
  const lines = text.trimEnd().split('\n');
  assert.doesNotMatch(text, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/u, 'no control character but line ends');
  assert.equal(lines.filter((l) => l.startsWith('verdict:')).length, 1, 'no forged verdict line');
  assert.match(text, /^audit of model\\x1b\[8m\.aicert\.json /);
  assert.match(text, /FAILED\s+init\s+.*its last output: \\x1b\[2J\\x1b\]0;t\\x07\\nverdict: PASSED\\r\\u\{202e\}$/m);
  assert.match(text, /verdict: FAILED$/m);
});

test('unknown fields, another media type or a malformed seed are refused', () => {
  assert.throws(() => parseAuditReport({ ...report, extra: 1 }), { code: 'audit.report-schema' });
  assert.throws(() => parseAuditReport({ ...report, mediaType: 'application/json' }), { code: 'audit.report-schema' });
  assert.throws(() => parseAuditReport({ ...report, auditSeed: 'xyz' }), /auditSeed/);
});

test('property: a report with any field replaced parses or is refused with an InputError, never anything else', () => {
  const paths: string[][] = [];
  const walk = (v: unknown, path: string[]) => {
    paths.push(path);
    if (v && typeof v === 'object') for (const [k, child] of Object.entries(v)) walk(child, [...path, k]);
  };
  walk(report, []);
  assertProperty(
    fc.property(fc.constantFrom(...paths.filter((p) => p.length > 0)), fc.jsonValue(), (path, value) => {
      const copy = JSON.parse(JSON.stringify(report)) as Record<string, unknown>;
      let target = copy;
      for (const key of path.slice(0, -1)) target = target[key] as Record<string, unknown>;
      target[path.at(-1)!] = value;
      try {
        parseAuditReport(copy);
      } catch (err) {
        assert.ok(err instanceof InputError, String(err));
      }
    }),
  );
});
