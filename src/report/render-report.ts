import { byteSize } from './format-values.js';
import { html, trusted } from './html.js';
import { PAGE_STYLE } from './page-style.js';
import type { ReportModel } from './report-model.js';
import { auditSection } from './section-audit.js';
import { checksSection } from './section-checks.js';
import { endorsementSection } from './section-endorsement.js';
import { nodesSection } from './section-nodes.js';
import { platformSection } from './section-platform.js';
import { timelineSection } from './section-timeline.js';
import { trainingSection } from './section-training.js';
import { verdictSection } from './section-verdict.js';

/**
 * The page's policy: nothing may load (no script, font, frame, connection), styles only inline,
 * images only as data: URIs. Even if some text escaped the escaping, no script could run and no
 * request could leave the page.
 */
export const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/**
 * The report as one self-contained HTML page: a pure function of the model (no Node API, no
 * I/O), so the same code renders the page in the CLI and, later, in a browser.
 */
export function renderReport(m: ReportModel): string {
  const run = m.run;
  const page = html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${trusted(REPORT_CSP)}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>aicert report: ${m.certificate.name} — ${m.verification.verdict}</title>
<style>${trusted(PAGE_STYLE)}</style>
</head>
<body>
<header class="header">
<h1>aicert certificate report</h1>
<p class="meta">Certificate <code>${m.certificate.name}</code> · SHA-256 <code class="digest">${m.certificate.sha256}</code> · ${byteSize(m.certificate.bytes)}</p>
<p class="meta">Made ${m.generatedAt} by aicert ${m.aicertVersion}.</p>
</header>
<main>
${verdictSection(m)}
${checksSection(m)}
${run ? html`${trainingSection(run)}${platformSection(run)}${nodesSection(run)}${timelineSection(run)}` : ''}
${m.audit ? auditSection(m.audit) : ''}
${endorsementSection(m)}
</main>
<footer class="footer">
<p>This page shows what <code>aicert verify</code> found when the page was made. To check the certificate yourself: <code>aicert verify ${m.certificate.name} --trust CA.pem --model MODEL_DIR</code> (docs/report.md).</p>
</footer>
</body>
</html>
`;
  return page.text;
}
