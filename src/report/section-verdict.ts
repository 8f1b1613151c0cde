import { html, type Html } from './html.js';
import type { ReportModel } from './report-model.js';

const HEADLINES = {
  verified: 'VERIFIED',
  'not verified': 'NOT VERIFIED',
  unusable: 'UNUSABLE',
} as const;

/**
 * The verdict first, in words a reader cannot miss: for a certificate that failed, the failing
 * check's id and reason right under it; for an untrusted AK accepted by request, that it proves
 * nothing about the hardware.
 */
export function verdictSection(m: ReportModel): Html {
  const v = m.verification;
  const failed = v.checks.find((c) => c.status === 'failed');
  const untrusted = v.akTrust?.acceptedUntrusted === true;
  const klass = v.verdict === 'verified' ? (untrusted ? 'verified untrusted' : 'verified') : 'failed';
  const explanation =
    v.verdict === 'verified'
      ? html`<p>Every check passed: the TPM quotes vouch for the event log, and the event log for the statement below.</p>`
      : v.verdict === 'unusable'
        ? html`<p>The file is not a usable aicert certificate; nothing in it was checked.</p>`
        : html`<p>The certificate failed a check, and nothing after a failed check is believed. What the sections below show is only what the certificate <em>claims</em>.</p>`;
  return html`<section id="verdict" class="verdict ${klass}" data-verdict="${v.verdict}">
<p class="verdict-line">Verdict: <strong id="verdict-text">${HEADLINES[v.verdict]}</strong> <span class="exit">(exit status ${v.exitStatus})</span></p>
${
  failed
    ? html`<p class="failing-check">Failed check: <code id="failed-check-id">${failed.id}</code> — <span class="failure-reason">${failed.reason}</span></p>`
    : ''
}
${
  untrusted
    ? html`<p class="untrusted-warning">UNTRUSTED attestation key accepted (--allow-untrusted-ak): this certificate proves nothing about the hardware.</p>`
    : ''
}
${v.akTrust && !untrusted ? html`<p>Attestation key trust: <strong>${v.akTrust.level}</strong> — ${v.akTrust.reason}</p>` : ''}
${explanation}
</section>`;
}
