import type { AuditReport, SegmentReport } from '../audit/audit-report.js';
import { memorizationCharts } from './audit-memorization-charts.js';
import { replayChart, toleranceDelta } from './audit-replay-chart.js';
import { count, percent, sci } from './format-values.js';
import { html, type Html } from './html.js';
import { checklistTable } from './section-checks.js';
import { dataTable, factList, section } from './tables.js';

/**
 * The proof-of-training audit (docs/audit.md): its verdict and checks, the segments it replayed
 * with their distances against the tolerance, the memorization test, what the audit could
 * detect and what it cost. Fields a report may lack are shown only when present.
 */
export function auditSection(a: AuditReport): Html {
  const t = a.parameters.tolerance;
  const delta = toleranceDelta(a);
  const chart = replayChart(a);
  const memorization = memorizationCharts(a);
  const m = a.memorization as MemorizationView | undefined;
  const d = a.detection;
  return section(
    'audit',
    'Audit',
    html`<p class="audit-verdict ${a.verdict === 'passed' ? 'good' : 'bad'}">Audit verdict: <strong id="audit-verdict">${a.verdict.toUpperCase()}</strong> (audit seed <code>${a.auditSeed}</code>)</p>
${checklistTable(a.checks)}
<h3>Replayed segments</h3>${factList([
      ['segments audited', `${a.segments.length}${a.run ? ` of ${count(a.run.segments)}` : ''}`],
      ['chosen', `the ${a.parameters.topQ} largest updates, and ${a.parameters.random} drawn with the audit seed`],
      [
        'tolerance',
        t.mode === 'exact'
          ? 'exact: the replayed checkpoint must have the recorded digest'
          : `${t.mode}: δ = ${delta === undefined ? '?' : sci(delta)} of the replayed update`,
      ],
      [
        'calibration',
        a.calibration &&
          `one-ulp perturbations of segments ${a.calibration.segments.join(', ')} moved honest replays by ${a.calibration.ratios.map(sci).join(', ')} of their update; δ = ${a.calibration.margin} × the largest (cap ${a.calibration.maxDelta})`,
      ],
    ])}
${chart ? html`<figure>${chart}<figcaption>Each replayed segment's distance to the claimed checkpoint, relative to the update the replay made; a segment passes below the line (and with a claimed update of the same size). Hollow dots on the bottom edge: reproduced bit for bit.</figcaption></figure>` : ''}
${dataTable(
  ['segment', 'steps', 'chosen by', '‖ΔW‖₂', 'replay', 'distance', 'AUC', 'p'],
  a.segments.map(segmentCells),
  'segments',
)}
<h3>Memorization test</h3>${
      m
        ? factList([
            ['segments combined', m.segments === undefined ? undefined : String(m.segments)],
            [
              'Z, p',
              m.p === undefined
                ? undefined
                : `Z = ${typeof m.z === 'number' ? m.z.toFixed(2) : '— (all tied)'}, p = ${sci(m.p)}${m.alpha === undefined ? '' : ` at α = ${m.alpha}`}`,
            ],
            [
              'AUC (weighted)',
              m.auc === undefined
                ? undefined
                : `${m.auc.toFixed(3)}${m.aucStandardError === undefined ? '' : ` ± ${sci(m.aucStandardError)}`}`,
            ],
            ['mean AUC', m.meanAuc?.toFixed(3)],
            [
              'unused data ruled out',
              m.unusedBound === undefined
                ? undefined
                : `at least ${percent(m.unusedBound)} of the claimed records unused is ruled out at level α`,
            ],
            [
              'power',
              m.power && m.power.length > 0
                ? html`${m.power.map((p) => `${percent(p.power)} against ${percent(p.unusedFraction)} unused`).join('; ')}${m.requiredPower === undefined ? '' : ` (a pass needs ${percent(m.requiredPower)})`}`
                : undefined,
            ],
            ['result', memorizationOutcome(m)],
          ])
        : html`<p class="missing">No memorization result in this report.</p>`
    }
${memorization ?? ''}
<h3>What the audit could detect, and its cost</h3>${factList([
      [
        'detection',
        `${d.random} random segments catch a run that faked ${percent(d.fakeFraction)} of its segments with probability ≥ ${percent(d.probability)}${d.withoutReplacement === undefined ? '' : ` (${percent(d.withoutReplacement)} exactly, for this run)`}`,
      ],
      [
        'cost',
        a.cost &&
          `replayed ${count(a.cost.replayedSteps)} of ${count(a.cost.totalSteps)} steps (${percent(a.cost.replayFraction)}); ${count(a.cost.lossEvaluations)} record evaluations; ${percent(a.cost.totalFraction)} of the training in all`,
      ],
    ])}`,
  );
}

/**
 * The combined memorization result as this page reads it. Report versions differ in what they
 * state (a passed flag, or an outcome with the power behind it), so every field is optional and
 * shown only when present.
 */
interface MemorizationView {
  segments?: number;
  z?: number | null;
  p?: number;
  alpha?: number;
  auc?: number;
  aucStandardError?: number;
  meanAuc?: number;
  unusedBound?: number;
  power?: ReadonlyArray<{ unusedFraction: number; power: number }>;
  requiredPower?: number;
  passed?: boolean;
  outcome?: string;
}

function memorizationOutcome(m: MemorizationView): Html | undefined {
  const outcome = m.outcome ?? (m.passed === undefined ? undefined : m.passed ? 'passed' : 'failed');
  if (outcome === 'passed') return html`<strong class="good">the claimed records were trained on</strong>`;
  if (outcome === 'failed')
    return html`<strong class="bad">no evidence that the claimed records were trained on</strong>`;
  if (outcome === 'inconclusive')
    return html`<strong class="bad">inconclusive: the test had too little power to tell</strong>`;
  return outcome === undefined ? undefined : html`${outcome}`;
}

function segmentCells(s: SegmentReport): Html[] {
  const r = s.replay;
  const replay = !r
    ? html`—`
    : r.digestEqual
      ? html`<span class="good">same digest</span>`
      : r.accepted
        ? html`<span class="good">within δ</span>`
        : html`<strong class="bad">NOT REPRODUCED</strong>`;
  return [
    html`${s.index}`,
    html`${s.firstStep}–${s.firstStep + s.steps - 1}`,
    html`${s.chosenBy}`,
    html`${sci(s.updateNorm)}`,
    html`${replay}${r ? html`<div class="reason">${r.reason}</div>` : ''}`,
    html`${r?.distance === undefined ? '—' : sci(r.distance)}`,
    html`${s.memorization ? s.memorization.auc.toFixed(3) : '—'}`,
    html`${s.memorization ? sci(s.memorization.p) : '—'}`,
  ];
}
