import { DEVIATIONS } from './deviations.js';
import type { TrainerCheckReport } from './check-trainer.js';

/** The text `aicert trainer check` prints: what was run on what, each step, then every deviation with its id. */
export function formatTrainerCheck(r: TrainerCheckReport): string {
  const mark = { ok: 'ok     ', failed: 'FAILED ', skipped: 'skipped' } as const;
  const data = r.dataset.builtIn
    ? `the built-in sample (${r.dataset.records} records)`
    : `${r.dataset.path} (${r.dataset.records} records)`;
  const lines = [
    `trainer check of: ${r.command.join(' ')}`,
    `  on ${data}, k = ${r.checkpointEvery}, held out ${r.holdoutFraction}, seed s = ${r.seed}, model to ${r.output}`,
  ];
  for (const s of r.steps) lines.push(`  ${mark[s.status]}  ${s.id.padEnd(12)} ${s.detail}`);
  if (r.conformant) {
    lines.push('', 'CONFORMANT: no deviation from the trainer protocol found (docs/trainer-protocol.md)');
  } else {
    lines.push('', `${r.deviations.length} DEVIATION${r.deviations.length === 1 ? '' : 'S'}:`);
    for (const d of r.deviations) lines.push(`  ${d.id}: ${d.detail}`, `    (${DEVIATIONS[d.id]})`);
  }
  return `${lines.join('\n')}\n`;
}
