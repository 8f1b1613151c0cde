import type { BootFacts } from '../evidence/boot-log/boot-facts.js';
import { count } from './format-values.js';
import { html, type Html } from './html.js';
import type { RunFacts } from './report-model.js';
import { dataTable, digest, factList } from './tables.js';

/** Lists longer than this (GRUB's commands and files) show their first entries and fold the rest. */
const SHOWN = 8;

/**
 * The boot, as the firmware's boot event log tells it (docs/boot-log.md): facts the verifier read
 * only from events of PCRs that replayed to both quotes' values (`boot.eventlog`, `boot.facts`).
 * A log that was not verified gives no facts: the page says so instead of showing claims.
 */
export function bootPart(run: RunFacts): Html {
  const heading = html`<h3>Boot (the firmware's event log)</h3>`;
  if (!run.bootLogCarried)
    return html`${heading}<p>The certificate carries no boot event log (a software TPM, or none was found): the boot is known only by the PCR values above.</p>`;
  if (!run.boot)
    return html`${heading}<p class="missing">The certificate carries a boot event log, but it was not verified: no boot fact is shown.</p>`;
  const b = run.boot;
  return html`${heading}<p>Read only from events of PCRs that replay to the quoted values (${b.bank} bank); a policy can require them (<code>bootLog</code>).</p>${factList(
    [
      ['Secure Boot', secureBoot(b.secureBoot)],
      ...(['PK', 'KEK', 'db', 'dbx'] as const).map(
        (name) =>
          [
            `${name} (SHA-256)`,
            b.secureBootVariables[name] && html`${digest(b.secureBootVariables[name].sha256)}`,
          ] as const,
      ),
      ['separators in PCRs', b.separators.join(', ') || 'none'],
      ['problems', b.problems.length > 0 ? html`<strong class="bad">${b.problems.join('; ')}</strong>` : undefined],
    ],
  )}${
    b.bootApplications.length > 0
      ? html`<h4>Boot applications (PCR 4, in load order)</h4>${dataTable(
          ['event', 'path', 'Authenticode digest'],
          b.bootApplications.map((a) => [
            count(a.seq),
            a.path ?? html`<span class="missing">no path</span>`,
            digest(a.digest),
          ]),
        )}`
      : ''
  }${
    b.kernels.length > 0
      ? html`<h4>Kernels GRUB loaded (PCR 9)</h4>${dataTable(
          ['event', 'path', 'digest'],
          b.kernels.map((k) => [count(k.seq), k.path, digest(k.digest)]),
        )}`
      : ''
  }${
    b.shim.length > 0
      ? html`<h4>What shim measured (PCR 14)</h4>${dataTable(
          ['event', 'name', 'digest'],
          b.shim.map((s) => [count(s.seq), s.name, digest(s.digest)]),
        )}`
      : ''
  }${folded('Kernel command lines (PCR 8)', b.kernelCommandLines)}${folded('GRUB commands (PCR 8)', b.grubCommands)}${folded(
    'files GRUB read (PCR 9)',
    b.grubFiles.map((f) => `${f.path}  ${f.digest}`),
  )}`;
}

function secureBoot(on: BootFacts['secureBoot']): Html {
  if (on === null) return html`<span class="missing">not measured by the log</span>`;
  return on ? html`<strong class="good">on</strong>` : html`<strong class="bad">off</strong>`;
}

/** A list as plain text, its first entries shown and the rest folded into <details>. */
function folded(title: string, lines: readonly string[]): Html | string {
  if (lines.length === 0) return '';
  const shown = html`<pre class="folded-events">${lines.slice(0, SHOWN).join('\n')}</pre>`;
  if (lines.length <= SHOWN) return html`<h4>${title}</h4>${shown}`;
  return html`<h4>${title}</h4>${shown}<details><summary>${count(lines.length - SHOWN)} more</summary><pre class="folded-events">${lines.slice(SHOWN).join('\n')}</pre></details>`;
}
