import { html, type Html, type HtmlValue } from './html.js';

/**
 * Tables and fact lists. Rows never break across printed pages and header rows repeat on each
 * page (page-style.ts), so a printed table is never cut.
 */
export function dataTable(head: readonly string[], rows: readonly (readonly HtmlValue[])[], className = ''): Html {
  return html`<table class="${className}"><thead><tr>${head.map((h) => html`<th>${h}</th>`)}</tr></thead><tbody>${rows.map(
    (r) => html`<tr>${r.map((c) => html`<td>${c}</td>`)}</tr>`,
  )}</tbody></table>`;
}

/** Label/value pairs; a value of undefined leaves its row out. */
export function factList(facts: ReadonlyArray<readonly [string, HtmlValue]>): Html {
  return html`<dl class="facts">${facts
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => html`<div class="fact"><dt>${k}</dt><dd>${v}</dd></div>`)}</dl>`;
}

/** A digest or other long hex string: monospace, breakable anywhere. */
export function digest(hex: string | undefined): Html {
  return hex === undefined ? html`<span class="missing">—</span>` : html`<code class="digest">${hex}</code>`;
}

/** A check status as a coloured badge. */
export function statusBadge(status: 'ok' | 'failed' | 'skipped'): Html {
  const text = { ok: 'ok', failed: 'FAILED', skipped: 'skipped' }[status];
  return html`<span class="badge ${status}">${text}</span>`;
}

/** A section with its heading; `claimed` marks content that is the certificate's word only. */
export function section(id: string, title: string, body: HtmlValue, claimed = false): Html {
  return html`<section id="${id}"><h2>${title}${claimed ? html` <span class="claimed-tag">claimed, not verified</span>` : ''}</h2>${body}</section>`;
}
