import { count } from './format-values.js';
import { html, type Html } from './html.js';
import type { RunFacts } from './report-model.js';
import { dataTable, digest, factList, section } from './tables.js';

/**
 * The nodes of a multi-node run (docs/distributed.md): the group commitment's facts, then one row
 * per rank: its attestation key and trust, the host and TPM it reported, its quotes (TPM clock and
 * boot counter), its shard and the network its command had. Rank 0's row is this certificate's
 * own evidence; the others come from `evidence.group`, verified node by node when the page says so.
 */
export function nodesSection(run: RunFacts): Html {
  const group = run.group;
  if (!group) return html``;
  return section(
    'nodes',
    `The ${count(group.nodes.length)} nodes`,
    html`${factList([
      ['group run id', digest(group.runId)],
      ['group commitment', digest(group.digest)],
      ['data the group claims', html`${group.data.map((d) => html`${digest(d)} `)}`],
      [
        'shard plan',
        group.shardPlan
          ? html`given to rank 0 before any node joined; each node's data is its planned shard`
          : html`none: each node's shard is what it measured`,
      ],
      [
        'trainer protocol',
        group.trainer ? 'every node, with the seed made from the r rank 0 fixed in the group commitment' : 'not used',
      ],
    ])}${dataTable(
      ['rank', 'attestation key', 'host and TPM', 'quotes (TPM clock, boot counter)', 'shard', 'command network'],
      group.nodes.map((n) => nodeRow(n.rank, n.shard, n.facts)),
    )}`,
    !run.verified,
  );
}

function nodeRow(rank: number, shard: readonly string[], f: RunFacts): Html[] {
  const env = f.environment;
  const isolation = f.command?.isolation ?? (f.command ? { mode: 'none' as const } : undefined);
  return [
    html`${rank}`,
    html`${digest(f.akName)}<br>${f.akTrust ? html`<strong class="trust-${f.akTrust.level}">${f.akTrust.level}</strong>` : html`<span class="missing">not evaluated</span>`}`,
    env
      ? html`${env.os.platform} ${env.os.release} (${env.os.arch}), ${env.cpu.model} × ${count(env.cpu.count)}<br>TPM ${env.tpm.manufacturer} (firmware ${env.tpm.firmware})`
      : html`<span class="missing">—</span>`,
    html`${f.quotes.map((q) => html`${q.phase}: ${q.clockMs ?? '?'} ms, boot ${q.resetCount ?? '?'}<br>`)}`,
    html`${shard.map((d) => html`${digest(d)} `)}`,
    isolation === undefined
      ? html`<span class="missing">—</span>`
      : isolation.mode === 'none'
        ? html`<strong class="bad">not confined</strong>`
        : html`${isolation.network}`,
  ];
}
