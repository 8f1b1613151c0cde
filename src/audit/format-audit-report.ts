import { visibleText } from '../util/visible-text.js';
import type { AuditReport, SegmentReport } from './audit-report.js';

/**
 * The text `aicert audit` prints: the checklist, the audited segments, then detection, cost and
 * verdict. Reasons quote what the prover controls (the trainer's error output, names and members
 * of the certificate) and the certificate's name is a path: each is shown with its control
 * characters escaped, one line each, so none can move the cursor or forge a line of the report.
 */
export function formatAuditReport(r: AuditReport): string {
  const mark = { ok: 'ok     ', failed: 'FAILED ', skipped: 'skipped' } as const;
  const lines = [`audit of ${visibleText(r.certificate)}  (audit seed ${r.auditSeed})`];
  for (const c of r.checks) lines.push(`  ${mark[c.status]}  ${c.id.padEnd(20)} ${visibleText(c.reason)}`);
  if (r.segments.length > 0) {
    const total = r.run ? ` of ${r.run.segments}` : '';
    lines.push(
      '',
      `segments audited: ${r.segments.length}${total} (top-${r.size?.topQ ?? r.parameters.topQ} by update of weights or optimizer state, then drawn with the audit seed)`,
    );
    if (r.size?.note) lines.push(`  ${visibleText(r.size.note)}`);
    lines.push(row(['segment', 'steps', 'chosen', '‖ΔW‖₂', 'replay', 'AUC', 'p', '‖ΔO‖₂ (optimizer)']));
    for (const s of r.segments) lines.push(row(segmentCells(s)));
  }
  if (r.calibration) {
    const c = r.calibration;
    lines.push(
      '',
      `calibration: one-ulp perturbations of segments ${c.segments.join(', ')} moved honest replays by ${c.ratios.map(sci).join(', ')} of their update; δ = ${c.margin} × max = ${sci(c.delta)} (cap ${c.maxDelta})`,
    );
  }
  if (r.memorization) {
    const m = r.memorization;
    const outcome = {
      passed: 'the claimed records were trained on',
      failed: 'NO EVIDENCE the claimed records were trained on',
      inconclusive: `INCONCLUSIVE: power below ${m.requiredPower} against ${pct(m.unusedFraction)} unused`,
    }[m.outcome];
    lines.push(
      '',
      `memorization: ${m.segments} segments, ${m.members} members and ${m.heldOut} held-out records (information ${m.information.toFixed(0)}), weighted by information (van Elteren): Z = ${m.z.toFixed(2)}, p = ${sci(m.p)} at α = ${m.alpha}; AUC ${m.auc.toFixed(3)} ± ${m.aucStandardError.toFixed(3)} (unweighted mean ${m.meanAuc.toFixed(3)})`,
      `  unused data: at most ${pct(m.unusedBound)} of the claimed records went unused (level α); power ${m.power.map((p) => `${p.power.toFixed(3)} against ${pct(p.unusedFraction)}`).join(', ')} unused: ${outcome}`,
    );
  }
  const d = r.detection;
  const exact =
    d.withoutReplacement === undefined
      ? ''
      : `; ${pct(d.withoutReplacement)} for this run's ${r.run ? r.run.segments - (r.size?.topQ ?? r.parameters.topQ) : '?'} non-top segments`;
  lines.push(
    '',
    `detection: ${d.random} random segments catch a ${pct(d.fakeFraction)} fake fraction with probability ≥ 1 − (1 − ${d.fakeFraction})^${d.random} = ${pct(d.probability)}${exact}`,
  );
  if (r.cost) {
    const c = r.cost;
    lines.push(
      `cost: replayed ${c.replayedSteps} of ${c.totalSteps} steps (${pct(c.replayFraction)}); memorization ${c.lossEvaluations} record evaluations ≈ ${c.lossStepEquivalents.toFixed(0)} steps; total ${pct(c.totalFraction)} of training`,
    );
  }
  if (r.verification.akTrust && (r.verification.akTrust as { acceptedUntrusted?: boolean }).acceptedUntrusted) {
    lines.push(
      '*** UNTRUSTED attestation key accepted (--allow-untrusted-ak): the hardware evidence proves nothing ***',
    );
  }
  lines.push(`verdict: ${r.verdict.toUpperCase()}`);
  return `${lines.join('\n')}\n`;
}

function segmentCells(s: SegmentReport): string[] {
  const replay = !s.replay
    ? '-'
    : s.replay.digestEqual
      ? 'same digest'
      : s.replay.accepted
        ? 'within δ'
        : 'NOT REPRODUCED';
  const m = s.memorization;
  return [
    String(s.index),
    `${s.firstStep}-${s.firstStep + s.steps - 1}`,
    s.chosenBy,
    s.updateNorm.toPrecision(3),
    replay,
    m ? m.auc.toFixed(3) : '-',
    m ? sci(m.p) : '-',
    s.optimizerUpdateNorm?.toPrecision(3) ?? '-',
  ];
}

const WIDTHS = [8, 12, 7, 10, 15, 6, 9];

function row(cells: string[]): string {
  return `  ${cells.map((c, i) => (i < WIDTHS.length ? c.padEnd(WIDTHS[i]!) : c)).join(' ')}`;
}

function pct(x: number): string {
  return `${(100 * x).toFixed(x >= 0.99 && x < 1 ? 2 : 1)} %`;
}

function sci(x: number): string {
  return x === 0 ? '0' : x.toExponential(2);
}
