import { html, type Html } from './html.js';
import type { ReportModel } from './report-model.js';
import { dataTable, section, statusBadge } from './tables.js';

/**
 * The auditor's endorsement: the ones that verified (signed by a trusted auditor, about this
 * certificate, PASSED), or the endorsement check that failed, or that none was given.
 */
export function endorsementSection(m: ReportModel): Html {
  const checks = m.verification.checks.filter((c) => c.id.startsWith('audit.endorsement'));
  const failed = checks.filter((c) => c.status === 'failed');
  const body =
    m.endorsements.length > 0
      ? dataTable(
          ['auditor', 'result', 'levels', 'verified at'],
          m.endorsements.map((e) => [e.auditor, e.result, e.levels.join(', '), e.timeVerified]),
        )
      : failed.length > 0
        ? html`<p class="bad">No endorsement was accepted.</p>`
        : checks.length > 0
          ? html`<p>The endorsement checks did not complete (an earlier check failed).</p>`
          : html`<p class="missing">No endorsement was checked (give one with <code>--endorsement FILE</code> and the auditor's key with <code>--trust-auditor KEY</code>).</p>`;
  return section(
    'endorsement',
    "Auditor's endorsement",
    html`${body}${failed.map((c) => html`<p>${statusBadge(c.status)} <code>${c.id}</code> ${c.reason}</p>`)}`,
  );
}
