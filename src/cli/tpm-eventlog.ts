import type { Command } from 'commander';
import { describeBootLog } from '../evidence/boot-log/describe-boot-log.js';
import { readBootLogFile } from '../evidence/boot-log/read-boot-log.js';
import { parseTcgLog } from '../evidence/boot-log/tcg-log.js';
import { visibleText } from '../util/visible-text.js';

/** `aicert tpm eventlog FILE [--json]`: a TCG binary boot event log, parsed and replayed (nothing verified). */
export function addTpmEventlogCommand(tpm: Command): void {
  tpm
    .command('eventlog')
    .description('parse a TCG binary boot event log: its events, boot facts, and the PCR values it replays to')
    .argument('<file>', 'the log, e.g. /sys/kernel/security/tpm0/binary_bios_measurements')
    .option('--json', 'print JSON: {"pcrs": {"sha256": {"0": "hex", ...}, ...}, "events": [...], "facts": {...}}')
    .addHelpText(
      'after',
      '\nThe log is read as it claims itself: this command verifies nothing. A log is evidence only\n' +
        'when its PCR values match a quote (aicert verify does that with the boot log a certificate\n' +
        'carries; see docs/boot-log.md). Exit status: 0 parsed, 2 unreadable or malformed log.\n\n' +
        'Examples:\n' +
        '  sudo aicert tpm eventlog /sys/kernel/security/tpm0/binary_bios_measurements\n' +
        '  aicert tpm eventlog boot.log --json | jq .pcrs.sha256\n' +
        '  aicert tpm eventlog boot.log --json | jq .facts.secureBoot\n',
    )
    .action(async (file: string, options: { json?: boolean }) => {
      const described = describeBootLog(parseTcgLog(await readBootLogFile(file)));
      const { pcrs, events, facts } = described;
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ pcrs, events, facts }, null, 2)}\n`);
        return;
      }
      const out: string[] = [`format: ${described.format}, ${events.length} events`, '', 'events:'];
      for (const e of events) {
        const digest = e.digests.sha256 ?? Object.values(e.digests)[0] ?? '';
        const what = e.description === undefined ? '' : `  ${visibleText(e.description).slice(0, 100)}`;
        out.push(
          `  ${String(e.seq).padStart(4)}  PCR ${String(e.pcr).padStart(2)}  ${e.type.padEnd(32)} ${digest}${what}`,
        );
      }
      if (facts) {
        out.push('', `facts (${facts.bank} digests, unverified):`);
        out.push(`  secure boot: ${facts.secureBoot === null ? 'not measured' : facts.secureBoot ? 'on' : 'off'}`);
        for (const [name, v] of Object.entries(facts.secureBootVariables))
          out.push(`  ${name.padEnd(4)} sha256:${v.sha256} (${v.bytes} bytes)`);
        for (const app of facts.bootApplications)
          out.push(`  boot application ${app.digest}  ${visibleText(app.path ?? '(no path)')}`);
        for (const k of facts.kernels) out.push(`  kernel ${k.digest}  ${visibleText(k.path)}`);
        for (const line of facts.kernelCommandLines) out.push(`  kernel command line: ${visibleText(line)}`);
        out.push(`  separators in PCRs: ${facts.separators.join(', ') || 'none'}`);
        for (const p of facts.problems) out.push(`  PROBLEM: ${visibleText(p)}`);
      }
      out.push('', 'replayed PCRs:');
      for (const [bank, values] of Object.entries(pcrs))
        for (const [pcr, hex] of Object.entries(values)) out.push(`  ${bank}:${pcr.padStart(2)}  ${hex}`);
      process.stdout.write(`${out.join('\n')}\n`);
    });
}
