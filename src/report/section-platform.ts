import { byteSize, count } from './format-values.js';
import { html, type Html } from './html.js';
import type { RunFacts } from './report-model.js';
import { bootPart } from './section-boot.js';
import { dataTable, digest, factList, section } from './tables.js';

/**
 * On what it ran: the host as it reported itself, the TPM, the attestation key and why it is
 * trusted, the boot PCRs the quotes cover (a policy pins them), the boot facts of the firmware's
 * event log, and how the command was confined.
 */
export function platformSection(run: RunFacts): Html {
  const env = run.environment;
  const [start, end] = [run.quotes.find((q) => q.phase === 'start'), run.quotes.find((q) => q.phase === 'end')];
  const pcrIndices = Object.keys(end?.pcrs ?? start?.pcrs ?? {})
    .map(Number)
    .sort((a, b) => a - b);
  const isolation = run.command?.isolation ?? (run.command ? { mode: 'none' as const } : undefined);
  const trust = run.akTrust;
  return section(
    'platform',
    'On what it ran',
    html`<h3>Host</h3>${factList([
      ['operating system', env && `${env.os.platform} ${env.os.release} (${env.os.arch})`],
      ['Node.js', env?.node],
      ['CPU', env && `${env.cpu.model} × ${count(env.cpu.count)}`],
      ['memory', env && byteSize(env.memoryBytes)],
      ['aicert', run.session?.aicertVersion],
    ])}
<h3>TPM and attestation key</h3>${factList([
      ['TPM', env && `${env.tpm.manufacturer} (vendor ${env.tpm.vendor}, firmware ${env.tpm.firmware})`],
      ['attestation key Name', digest(run.akName)],
      [
        'trust',
        trust
          ? html`<strong class="trust-${trust.level}">${trust.level}</strong>${trust.acceptedUntrusted ? html` <strong class="bad">accepted only because --allow-untrusted-ak was given</strong>` : ''} — ${trust.reason}`
          : html`<span class="missing">not evaluated</span>`,
      ],
      ['measurement register', run.register],
    ])}
${
  run.akChain.length > 0
    ? html`<h4>AK certificate chain (leaf first)</h4>${dataTable(
        ['subject', 'issuer', 'valid', 'SHA-256'],
        run.akChain.map((c) => [c.subject || '(empty)', c.issuer, `${c.notBefore} – ${c.notAfter}`, digest(c.sha256)]),
      )}`
    : html`<p>The certificate carries no AK certificate chain: only a verifier who pinned this AK trusts it.</p>`
}
<h3>PCRs quoted</h3><p>SHA-256 bank. PCRs 0–7 record the boot chain (firmware, boot loader, Secure Boot state); a policy pins the values it accepts.${run.pcr === undefined ? '' : ` PCR ${run.pcr} is the run's event log.`}</p>${dataTable(
      ['PCR', 'start quote', 'end quote'],
      pcrIndices.map((i) => {
        const a = start?.pcrs[String(i)];
        const b = end?.pcrs[String(i)];
        const changed = a !== undefined && b !== undefined && a !== b && i !== run.pcr;
        return [
          html`${i}${i === run.pcr ? ' (run)' : ''}${changed ? html` <strong class="bad">changed</strong>` : ''}`,
          digest(a),
          digest(b),
        ];
      }),
      'pcrs',
    )}
${bootPart(run)}
<h3>Command isolation</h3>${
      isolation === undefined
        ? html`<p class="missing">No command event.</p>`
        : isolation.mode === 'none'
          ? html`<p><strong class="bad">Not confined</strong>: the training command could reach the TPM, aicert's state and the network.</p>`
          : factList([
              ['namespaces', isolation.namespaces.join(', ')],
              ['hidden from the command', isolation.hidden.join(', ')],
              ['capabilities', isolation.capabilities],
              ['network', isolation.network],
            ])
    }`,
    !run.verified,
  );
}
