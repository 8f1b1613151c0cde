import type { ArtifactEvent } from '../protocol/run-events.js';
import { byteSize, count } from './format-values.js';
import { html, type Html } from './html.js';
import type { RunFacts } from './report-model.js';
import { dataTable, digest, factList, section } from './tables.js';

/** What was trained: the inputs and outputs by content digest, dataset roots, the trainer's commitment. */
export function trainingSection(run: RunFacts): Html {
  const trainer = run.commitment?.trainer;
  const checkpoints = run.checkpoints;
  const datasets = run.inputs.flatMap((a) => (a.records ?? []).map((r) => ({ artifact: a, records: r })));
  return section(
    'training',
    'What was trained',
    html`<h3>Inputs</h3>${artifactTable(run.inputs)}
${
  datasets.length > 0
    ? html`<h3>Dataset records</h3><p>Each dataset's records as Merkle roots: the order root fixes the records in order, the set root the records as a set.</p>${dataTable(
        ['dataset', 'file', 'format', 'records', 'distinct', 'order root', 'set root'],
        datasets.map(({ artifact, records: r }) => [
          artifact.name,
          r.path,
          r.format,
          count(r.records),
          count(r.distinctRecords),
          digest(r.orderRoot),
          digest(r.setRoot),
        ]),
        'wide',
      )}`
    : ''
}
<h3>Outputs</h3>${run.outputs.length > 0 ? artifactTable(run.outputs) : html`<p class="missing">No outputs recorded.</p>`}
<h3>Command</h3>${factList([
      ['command line', run.command ? html`<code class="argv">${run.command.argv.join(' ')}</code>` : undefined],
      ['output directory', run.command?.output],
      [
        'exit',
        run.exit
          ? run.exit.success
            ? 'status 0 (success)'
            : html`<strong class="bad">${run.exit.signal ? `killed by ${run.exit.signal}` : `status ${run.exit.exitCode}`}</strong>`
          : undefined,
      ],
    ])}
${
  trainer
    ? html`<h3>Trainer protocol</h3>${factList([
        ['seed s', digest(trainer.seed)],
        ['randomness r', html`${digest(trainer.r)} (from the ${trainer.rSource})`],
        ['checkpoints', `${count(checkpoints.length)} measured the moment they were written`],
        ['first checkpoint', checkpoints[0] ? digest(checkpoints[0].sha256) : undefined],
        ['last checkpoint', checkpoints.length > 1 ? digest(checkpoints.at(-1)!.sha256) : undefined],
      ])}`
    : ''
}`,
    !run.verified,
  );
}

function artifactTable(artifacts: readonly ArtifactEvent[]): Html {
  return dataTable(
    ['role', 'name', 'SHA-256 (OMS manifest root)', 'files', 'size', 'git'],
    artifacts.map((a) => [
      a.role,
      a.name,
      digest(a.digest.sha256),
      count(a.files),
      byteSize(a.bytes),
      a.git
        ? html`${a.git.commit ? digest(a.git.commit) : 'no commit'}${a.git.dirty ? html` <strong class="bad">dirty</strong>` : ''}`
        : '—',
    ]),
    'artifacts',
  );
}
