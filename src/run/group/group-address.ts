import { UsageError } from '../../errors.js';
import { MAX_GROUP_NODES } from '../../protocol/group-commitment.js';

/** Where and how a node meets its group (docs/distributed.md). */
export interface GroupAddress {
  nodes: number;
  rank: number;
  /** Rank 0 listens here; the others connect here. */
  host: string;
  port: number;
  /** Bound on joining and on every wait before the command, and on the evidence after it. */
  timeoutMs: number;
  log: (line: string) => void;
  /** Rank 0: each rank's assigned dataset roots (`--shard-plan`), checked at join and committed. */
  shardPlan?: string[][];
}

export interface GroupFlags {
  nodes?: string;
  nodeRank?: string;
  rendezvous?: string;
  rendezvousPort?: string;
  groupTimeout?: string;
}

/** torchrun's MASTER_PORT is the trainer's own; aicert's rendezvous defaults to another port on MASTER_ADDR. */
export const DEFAULT_RENDEZVOUS_PORT = 29400;
const DEFAULT_TIMEOUT_S = 600;

/**
 * The group a node belongs to, from the flags or else the launcher's environment: torchrun
 * (RANK, WORLD_SIZE, MASTER_ADDR), Slurm (SLURM_PROCID, SLURM_NTASKS), a Kubernetes indexed Job
 * (JOB_COMPLETION_INDEX, with --nodes). Undefined for a single-node run (no --nodes, or
 * --nodes 1, and no launcher says otherwise).
 */
export function resolveGroupAddress(
  flags: GroupFlags,
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
): GroupAddress | undefined {
  const nodesText = flags.nodes ?? env.WORLD_SIZE ?? env.SLURM_NTASKS;
  if (nodesText === undefined) {
    if (flags.nodeRank !== undefined || flags.rendezvous !== undefined)
      throw new UsageError('usage.nodes', '--node-rank and --rendezvous need --nodes N (the number of nodes)');
    return undefined;
  }
  const nodes = wholeNumber(nodesText, '--nodes');
  if (nodes < 1 || nodes > MAX_GROUP_NODES)
    throw new UsageError('usage.nodes', `--nodes must be from 1 to ${MAX_GROUP_NODES}, got ${nodes}`);
  if (nodes === 1) return undefined;
  const rankText = flags.nodeRank ?? env.RANK ?? env.SLURM_PROCID ?? env.JOB_COMPLETION_INDEX;
  if (rankText === undefined)
    throw new UsageError(
      'usage.node-rank',
      '--node-rank I is required for a group run (or RANK, SLURM_PROCID or JOB_COMPLETION_INDEX from the launcher)',
    );
  const rank = wholeNumber(rankText, '--node-rank');
  if (rank >= nodes) throw new UsageError('usage.node-rank', `--node-rank must be below --nodes ${nodes}, got ${rank}`);
  const rendezvous = flags.rendezvous ?? env.MASTER_ADDR;
  if (rendezvous === undefined)
    throw new UsageError('usage.rendezvous', '--rendezvous HOST:PORT is required for a group run (or MASTER_ADDR)');
  const { host, port } = hostPort(rendezvous, flags.rendezvousPort);
  const timeoutMs = wholeNumber(flags.groupTimeout ?? String(DEFAULT_TIMEOUT_S), '--group-timeout') * 1000;
  if (timeoutMs === 0) throw new UsageError('usage.group-timeout', '--group-timeout must be at least 1 second');
  return { nodes, rank, host, port, timeoutMs, log };
}

function hostPort(text: string, portFlag: string | undefined): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(text);
  if (!match) throw new UsageError('usage.rendezvous', `--rendezvous must be HOST:PORT, got "${text}"`);
  const host = match[1] ?? match[2]!;
  const port = Number(match[3] ?? portFlag ?? DEFAULT_RENDEZVOUS_PORT);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new UsageError('usage.rendezvous', `the rendezvous port must be 1-65535, got ${match[3] ?? portFlag}`);
  return { host, port };
}

function wholeNumber(text: string, what: string): number {
  if (!/^\d{1,9}$/.test(text.trim()))
    throw new UsageError('usage.nodes', `${what} must be a whole number, got "${text}"`);
  return Number(text.trim());
}
