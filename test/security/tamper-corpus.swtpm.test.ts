import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSecurityFixtures, type SecurityFixtures } from './swtpm-fixtures.js';
import type { Mutant } from './tamper-corpus.js';
import { allTamperMutants } from './tamper-mutants.js';
import { runTamperCorpus, type TamperSummary } from './tamper-run.js';

/**
 * The tamper corpus against the verifier: every mutant of a genuine certificate is rejected at a
 * named check, or is a declared equivalent whose decoded evidence is identical to the original's.
 */
describe('tamper corpus', () => {
  let fx: SecurityFixtures;
  let mutants: Mutant[];
  let summary: TamperSummary;

  before(async () => {
    fx = await makeSecurityFixtures();
    mutants = await allTamperMutants(fx);
    summary = await runTamperCorpus(mutants, fx.anchors);
  });
  after(async () => fx?.stop());

  const describeResults = (rs: TamperSummary['results']) =>
    rs.map((r) => `${r.mutant.family} / ${r.mutant.name}: ${r.check ?? ''} ${r.detail.slice(0, 300)}`).join('\n');

  test('the genuine certificates verify (else every rejection below would mean nothing)', async () => {
    const { verifyCertificate } = await import('../../src/verify/verify-certificate.js');
    for (const cert of [fx.good, fx.other, fx.trainer, fx.foreign, fx.nvGood, fx.nvOther]) {
      const { report: r } = await verifyCertificate(cert.bytes, cert.path, {
        trust: fx.anchors,
        allowUntrustedAk: false,
        model: cert.model,
      });
      assert.equal(
        r.verdict,
        'verified',
        `${cert.path}: ${JSON.stringify(r.checks.find((c) => c.status === 'failed'))}`,
      );
    }
  });

  test('at least 200 mutants, from every family', () => {
    assert.ok(summary.tried >= 200, `${summary.tried} mutants`);
    for (const family of [
      'bit-flip',
      'event-log',
      'statement-leaf',
      'event-leaf',
      'file-leaf',
      'quotes',
      'keys',
      'truncation',
      'duplicate-key',
      'encoding',
      'lookalike',
      'whitespace',
      'key-order',
      'forged',
      'artifacts',
      'nv',
      'bootlog',
    ]) {
      assert.ok((summary.byFamily[family] ?? 0) > 0, `no ${family} mutants`);
    }
  });

  test('zero false accepts and zero crashes', () => {
    assert.equal(summary.falseAccepts.length, 0, describeResults(summary.falseAccepts));
    assert.equal(summary.crashes.length, 0, describeResults(summary.crashes));
    assert.equal(summary.rejected + summary.equivalent, summary.tried);
  });

  test('each mutant with a known defence is stopped by that check', () => {
    assert.equal(summary.unexpectedChecks.length, 0, describeResults(summary.unexpectedChecks));
  });

  test('every mutant declared equivalent is accepted, with identical decoded evidence', () => {
    assert.equal(summary.equivalentsRejected.length, 0, describeResults(summary.equivalentsRejected));
    assert.ok(summary.equivalent > 0);
  });
});
