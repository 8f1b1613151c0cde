/**
 * The page's only stylesheet, inline (the CSP allows inline styles and nothing else to load).
 * System fonts only. Print: A4 with margins, colours kept, rows and figures never split across
 * pages, table headers repeated on each page, long digests wrapped instead of cut.
 */
export const PAGE_STYLE = `
:root { --ok: #1a7f37; --bad: #b42318; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; --bg-soft: #f6f8fa;
  --a: #0969da; --b: #d4572a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1f2328;
  margin: 0 auto; max-width: 1080px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; border-bottom: 1px solid var(--line); padding-bottom: 4px; margin-top: 32px; }
h3 { font-size: 15px; margin: 20px 0 8px; }
h4 { font-size: 14px; margin: 12px 0 6px; }
code, pre { font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
code.digest, code.argv { overflow-wrap: anywhere; word-break: break-all; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { border: 1px solid var(--line); padding: 4px 6px; text-align: left; vertical-align: top; overflow-wrap: break-word; }
th { background: var(--bg-soft); font-weight: 600; }
thead { display: table-header-group; }
tr, figure, .fact, .verdict, svg { break-inside: avoid; page-break-inside: avoid; }
h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
.header .meta { color: var(--muted); margin: 0; }
.verdict { border: 2px solid; border-radius: 6px; padding: 12px 16px; margin: 16px 0; }
.verdict.verified { border-color: var(--ok); background: #dafbe1; }
.verdict.failed { border-color: var(--bad); background: #ffebe9; }
.verdict.untrusted { border-color: var(--warn); background: #fff8c5; }
.verdict-line { font-size: 22px; margin: 0 0 6px; }
.verdict .exit { font-size: 14px; color: var(--muted); }
.failing-check { font-size: 16px; }
.failing-check code { font-size: 15px; font-weight: 700; color: var(--bad); }
.untrusted-warning { font-weight: 700; color: var(--warn); }
.badge { display: inline-block; padding: 0 6px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.badge.ok { background: #dafbe1; color: var(--ok); }
.badge.failed { background: var(--bad); color: #fff; }
.badge.skipped { background: var(--bg-soft); color: var(--muted); }
tr.check.failed td { background: #ffebe9; font-weight: 600; }
tr.check.skipped td { color: var(--muted); }
.good { color: var(--ok); }
.bad { color: var(--bad); }
.missing { color: var(--muted); }
.claimed-tag { font-size: 12px; font-weight: 600; color: var(--bad); border: 1px solid var(--bad); border-radius: 4px;
  padding: 0 4px; vertical-align: middle; }
.facts { display: grid; grid-template-columns: minmax(160px, max-content) 1fr; gap: 2px 12px; margin: 8px 0; }
.fact { display: contents; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.reason { color: var(--muted); font-size: 12px; }
tr.quote td { background: #ddf4ff; }
tr.folded td { background: var(--bg-soft); }
pre.folded-events { max-height: 24em; overflow: auto; margin: 6px 0 0; white-space: pre; }
figure { margin: 12px 0; }
figcaption { color: var(--muted); font-size: 12px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 8px; }
svg.chart { max-width: 100%; height: auto; font: 11px system-ui, sans-serif; }
svg .grid { stroke: #eaeef2; }
svg .axis text, svg .tick { fill: var(--muted); }
svg .axis-title { fill: #1f2328; }
svg .reference line { stroke: var(--bad); stroke-dasharray: 5 3; }
svg .reference text { fill: var(--bad); }
svg circle.series-a, svg rect.series-a { fill: var(--a); }
svg circle.series-b, svg rect.series-b { fill: var(--b); }
svg rect.bar { fill-opacity: 0.55; }
svg circle.floor { fill: #fff; stroke-width: 2; }
svg circle.series-a.floor { stroke: var(--a); }
svg circle.series-b.floor { stroke: var(--b); }
svg .marker line { stroke: #1f2328; stroke-width: 2; }
svg .strip-label { fill: #1f2328; }
.ev-session { fill: #8250df; } .ev-environment { fill: #bf8700; } .ev-input { fill: #0969da; }
.ev-command { fill: #57606a; } .ev-commitment { fill: #1a7f37; } .ev-checkpoint { fill: #54aeff; }
.ev-exit { fill: #cf222e; } .ev-output { fill: #fb8f44; } .ev-other { fill: #afb8c1; }
.footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  pre.folded-events { max-height: none; overflow: visible; white-space: pre-wrap; }
  svg.chart { max-width: 100%; }
}
`;
