import { html, type Html } from './html.js';
import type { ReportModel } from './report-model.js';
import { section, statusBadge } from './tables.js';

export interface ShownCheck {
  id: string;
  status: 'ok' | 'failed' | 'skipped';
  reason: string;
}

/** A checklist as a table: status, check id, reason; the failed row stands out. */
export function checklistTable(checks: readonly ShownCheck[]): Html {
  return html`<table class="checks"><thead><tr><th>status</th><th>check</th><th>reason</th></tr></thead><tbody>${checks.map(
    (c) =>
      html`<tr class="check ${c.status}" data-check="${c.id}"><td>${statusBadge(c.status)}</td><td><code>${c.id}</code></td><td>${c.reason}</td></tr>`,
  )}</tbody></table>`;
}

/** Every check `aicert verify` ran on the certificate, in order. */
export function checksSection(m: ReportModel): Html {
  const checks = m.verification.checks;
  const counts = ['ok', 'failed', 'skipped'].map((s) => `${checks.filter((c) => c.status === s).length} ${s}`);
  return section(
    'checks',
    'Checks',
    html`<p>${checks.length} checks: ${counts.join(', ')}. The list stops at the first failure.</p>${checklistTable(checks)}`,
  );
}
