import type { AuditReport } from '../audit/audit-report.js';
import { dotChart } from './chart-dots.js';
import { histogram } from './chart-histogram.js';
import { html, type Html } from './html.js';

/**
 * The memorization test's scores: each audited segment's AUC (members' loss drops ranked
 * against the held-out records'; 0.5 is chance), and the distributions of the segments' median
 * loss drops, members against held-out. The audit report keeps per-segment statistics, not
 * each record's drop, so the histograms are of segment medians.
 */
export function memorizationCharts(audit: AuditReport): Html | undefined {
  const tested = audit.segments.filter((s) => s.memorization);
  if (tested.length === 0) return undefined;
  const auc = dotChart({
    label: 'memorization test: AUC of each audited segment (0.5 is chance)',
    categories: tested.map((s) => String(s.index)),
    series: [{ name: 'AUC', className: 'series-a', values: tested.map((s) => s.memorization!.auc) }],
    xTitle: 'segment',
    yTitle: 'AUC',
    scale: 'linear',
    domain: [0, 1],
    reference: { value: 0.5, label: 'chance (0.5)' },
  });
  const drops = histogram({
    label: "median loss drop per audited segment: the segment's trained records against held-out records",
    series: [
      { name: 'members', className: 'series-a', values: tested.map((s) => s.memorization!.medianDrop.members) },
      { name: 'held out', className: 'series-b', values: tested.map((s) => s.memorization!.medianDrop.heldOut) },
    ],
    xTitle: 'median loss drop ℓ(x; W_i) − ℓ(x; W_{i+1})',
  });
  return html`<div class="charts"><figure>${auc}<figcaption>AUC per segment: how often a trained record's loss dropped more than a held-out record's.</figcaption></figure><figure>${drops}<figcaption>Median loss drop of each segment's trained records (members) and of held-out records.</figcaption></figure></div>`;
}
