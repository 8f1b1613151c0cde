import { VerificationError } from '../errors.js';
import {
  CERTIFICATE_MEDIA_TYPE,
  serializeCertificate,
  type AicertCertificate,
  type CertificateGroupNode,
} from '../cert/certificate.js';
import { checkNodeCount, type Policy } from '../evidence/policy.js';
import {
  groupCommitmentDigest,
  groupData,
  shardOf,
  shardPlanMismatch,
  type GroupCommitment,
  type GroupMember,
} from '../protocol/group-commitment.js';
import type { RunLog } from '../protocol/run-log.js';
import { canonicalize } from '../util/jcs.js';
import type { Checklist } from './checklist.js';
import type { VerifyCheckId } from './report.js';
import type { VerifiedCertificate } from './verify-certificate.js';
import type { VerifiedGroup, VerifiedRun } from './verified-run.js';

/** Verifies one node's evidence as a single-node certificate (the whole checklist, without group checks). */
export type VerifyNode = (bytes: Uint8Array, name: string) => Promise<VerifiedCertificate>;

/**
 * The checks of a multi-node run (docs/distributed.md), after rank 0's evidence verified as a
 * single-node run: the group commitment is the one rank 0's TPM measured; ranks 0 … N−1 appear
 * exactly once; every other node's evidence passes every single-node check and is bound to the
 * same commitment under its rank, by the AK and session the commitment names; the shards are
 * the nodes' datasets and cover exactly the claimed data. Then the policy's node count.
 * Returns the verified group, undefined for a single-node run.
 */
export async function checkGroup(
  list: Checklist<VerifyCheckId>,
  cert: AicertCertificate,
  rank0: { log: RunLog; akName: string },
  policy: Policy | undefined,
  verifyNode: VerifyNode,
): Promise<VerifiedGroup | undefined> {
  const binding = rank0.log.commitment.group;
  const evidence = cert.evidence.group;
  if (!binding && !evidence) {
    list.skipped('group.commitment', 'a single-node run');
    if (policy) list.absorb([checkNodeCount(policy, 1)]);
    return undefined;
  }
  const { commitment, digest } = await list.step(
    'group.commitment',
    () => {
      if (!binding)
        throw new VerificationError(
          'group.commitment',
          "the certificate carries group evidence, but rank 0's TPM-measured commitment names no group",
        );
      if (!evidence)
        throw new VerificationError(
          'group.commitment',
          `rank 0's commitment names group ${binding.digest}, but the certificate carries no group evidence`,
        );
      const digest = groupCommitmentDigest(evidence.commitment).toString('hex');
      if (digest !== binding.digest)
        throw new VerificationError(
          'group.commitment',
          `the certificate's group commitment has digest ${digest}; rank 0's measured commitment names ${binding.digest}`,
        );
      if (binding.rank !== 0)
        throw new VerificationError(
          'group.commitment',
          `the certificate's own evidence is rank ${binding.rank}'s, not rank 0's`,
        );
      return { commitment: evidence.commitment, digest };
    },
    ({ commitment }) =>
      `rank 0's TPM committed to group ${commitment.runId} (digest ${binding!.digest.slice(0, 16)}…) of ${commitment.nodes} nodes before its command ran`,
  );
  const nodes = await list.step(
    'group.ranks',
    () => checkRanks(commitment, evidence!.nodes),
    (n) => `ranks 0 … ${n.length} each appear exactly once, in the commitment and in the evidence`,
  );
  await list.step(
    'group.node',
    () => checkMember(rank0.log, rank0.akName, commitment.members[0]!, digest, 0),
    () => "rank 0's AK, session and events before its commitment are the ones the group commitment names",
  );
  const verified: VerifiedGroup['nodes'] = [];
  for (const node of nodes) {
    const run = await verifyGroupNode(list, node, verifyNode);
    await list.step(
      'group.node',
      () => checkMember(run, run.akName, commitment.members[node.rank]!, digest, node.rank),
      () =>
        `rank ${node.rank}: every single-node check passed (AK trust ${run.akTrust.level}); bound to this group commitment, with the AK, session and events it names`,
    );
    verified.push({ rank: node.rank, run });
  }
  await list.step(
    'group.shards',
    () => checkShards(commitment, [rank0.log, ...verified.map((v) => v.run)]),
    () =>
      `each node trained on exactly its shard, and the ${commitment.members.length} shards cover exactly the ${commitment.data.length} datasets the group claims`,
  );
  const logs = [rank0.log, ...verified.map((v) => v.run)];
  await list.step(
    'group.trainer',
    () => checkTrainers(commitment, logs),
    (checkpoints) =>
      checkpoints === undefined
        ? 'no node ran the trainer protocol'
        : `every node trained with the group's seed s (r fixed by rank 0) and measured the same ${checkpoints} checkpoints`,
  );
  if (policy) list.absorb([checkNodeCount(policy, commitment.nodes)]);
  return { commitment, digest, nodes: verified };
}

/** Ranks 0 … N−1 exactly once in the commitment, in rank order; evidence for 1 … N−1 exactly once. */
function checkRanks(commitment: GroupCommitment, nodes: readonly CertificateGroupNode[]): CertificateGroupNode[] {
  const n = commitment.nodes;
  if (commitment.members.length !== n)
    throw new VerificationError(
      'group.ranks',
      `the group commitment claims ${n} nodes but lists ${commitment.members.length} members`,
    );
  commitment.members.forEach((m, i) => {
    if (m.rank !== i)
      throw new VerificationError(
        'group.ranks',
        `the group commitment's member ${i} has rank ${m.rank}; members must be ranks 0 … ${n - 1} in order`,
      );
  });
  const byRank = new Map<number, CertificateGroupNode>();
  for (const node of nodes) {
    if (node.rank >= n)
      throw new VerificationError('group.ranks', `evidence for rank ${node.rank}, which a group of ${n} nodes has not`);
    if (byRank.has(node.rank))
      throw new VerificationError('group.ranks', `the certificate carries rank ${node.rank}'s evidence twice`);
    byRank.set(node.rank, node);
  }
  const missing = commitment.members.slice(1).filter((m) => !byRank.has(m.rank));
  if (missing.length > 0)
    throw new VerificationError(
      'group.ranks',
      `the certificate carries no evidence for rank ${missing.map((m) => m.rank).join(', ')} of the ${n} nodes the group committed to`,
    );
  return [...byRank.values()].sort((a, b) => a.rank - b.rank);
}

/** Every single-node check on a node's evidence; its first failure is reported under its own id, with the rank. */
async function verifyGroupNode(
  list: Checklist<VerifyCheckId>,
  node: CertificateGroupNode,
  verifyNode: VerifyNode,
): Promise<VerifiedRun> {
  const single: AicertCertificate = {
    mediaType: CERTIFICATE_MEDIA_TYPE,
    statement: node.statement,
    evidence: { tpm: node.tpm },
  };
  const result = await verifyNode(Buffer.from(serializeCertificate(single), 'utf8'), `rank ${node.rank}`);
  if (result.run) return result.run;
  const failed = result.report.checks.find((c) => c.status === 'failed');
  return list.fail(failed?.id ?? 'group.node', `rank ${node.rank}: ${failed?.reason ?? 'its evidence did not verify'}`);
}

/** The node's verified log is the one its member entry names, bound to this group under this rank. */
function checkMember(log: RunLog, akName: string, member: GroupMember, digest: string, rank: number): void {
  const bound = log.commitment.group;
  if (bound?.digest !== digest || bound.rank !== rank)
    throw new VerificationError(
      'group.commitment',
      `rank ${rank}'s TPM-measured commitment names ${bound ? `group ${bound.digest} as rank ${bound.rank}` : 'no group'}, not this certificate's group ${digest} as rank ${rank}`,
    );
  const differs = (what: string, measured: string, committed: string) =>
    new VerificationError(
      'group.node',
      `rank ${rank}'s ${what} is ${measured}; the group commitment names ${committed}`,
    );
  if (member.akName !== akName) throw differs('AK', akName, member.akName);
  if (member.sessionId !== log.session.sessionId) throw differs('session', log.session.sessionId, member.sessionId);
  if (canonicalize(member.events) !== canonicalize(log.commitment.events))
    throw new VerificationError(
      'group.node',
      `rank ${rank}'s events before its commitment are not the ones the group commitment lists for it`,
    );
}

/**
 * Each node's datasets are its shard, the shard the plan assigned it when rank 0 was given one,
 * and the shards' union is exactly the claimed data.
 */
export function checkShards(commitment: GroupCommitment, logs: readonly RunLog[]): void {
  logs.forEach((log, rank) => {
    const measured = shardOf(log.inputs);
    const shard = commitment.members[rank]!.data;
    if (canonicalize(measured) !== canonicalize(shard))
      throw new VerificationError(
        'group.shards',
        `rank ${rank} measured the datasets ${measured.join(', ') || '(none)'}, but its shard is ${shard.join(', ') || '(none)'}`,
      );
  });
  const plan = commitment.shardPlan;
  if (plan) {
    if (plan.length !== commitment.nodes)
      throw new VerificationError(
        'group.shards',
        `the shard plan assigns shards to ${plan.length} ranks; the group has ${commitment.nodes} nodes`,
      );
    commitment.members.forEach((m) => {
      const mismatch = shardPlanMismatch(plan, m.rank, m.data);
      if (mismatch) throw new VerificationError('group.shards', mismatch);
    });
  }
  const union = groupData(commitment.members);
  if (canonicalize(union) !== canonicalize(commitment.data))
    throw new VerificationError(
      'group.shards',
      `the group claims the datasets ${commitment.data.join(', ')}, but its shards cover ${union.join(', ')}`,
    );
}

/**
 * A trainer-protocol group run is one data-parallel training (docs/distributed.md): every node
 * committed to the seed made from the group's r (so to the same code, config, data and schedule),
 * and every node's replica measured the same checkpoints as rank 0's, whose transcript the audit
 * replays. Without the group's r, no node ran the protocol. Returns the checkpoint count.
 */
export function checkTrainers(commitment: GroupCommitment, logs: readonly RunLog[]): number | undefined {
  const trainers = logs.map((log) => log.commitment.trainer);
  if (!commitment.trainer) {
    const rank = trainers.findIndex((t) => t !== undefined);
    if (rank >= 0)
      throw new VerificationError(
        'group.trainer',
        `rank ${rank} ran the trainer protocol, but the group commitment fixes no r for a trainer group run`,
      );
    return undefined;
  }
  const [first, ...others] = trainers;
  const fail = (rank: number, why: string) => new VerificationError('group.trainer', `rank ${rank} ${why}`);
  if (!first) throw fail(0, 'did not run the trainer protocol, though the group commitment fixes r for it');
  if (first.r !== commitment.trainer.r || first.rSource === 'group')
    throw fail(
      0,
      `mixed r ${first.r} (${first.rSource}) into its seed, not the group commitment's ${commitment.trainer.r}`,
    );
  const rank0Checkpoints = logs[0]!.checkpoints.map((c) => c.sha256);
  others.forEach((t, i) => {
    const rank = i + 1;
    if (!t) throw fail(rank, 'did not run the trainer protocol; every node of a trainer group run must');
    if (t.rSource !== 'group' || t.r !== commitment.trainer!.r)
      throw fail(rank, `mixed r ${t.r} (${t.rSource}) into its seed, not the group commitment's`);
    if (t.seed !== first.seed)
      throw fail(rank, `committed to the seed ${t.seed}, rank 0 to ${first.seed}: their code, config or data differ`);
    if (t.checkpointEvery !== first.checkpointEvery || t.holdoutFraction !== first.holdoutFraction)
      throw fail(
        rank,
        `committed to k = ${t.checkpointEvery}, holdout ${t.holdoutFraction}; rank 0 to ${first.checkpointEvery}, ${first.holdoutFraction}`,
      );
    const checkpoints = logs[rank]!.checkpoints.map((c) => c.sha256);
    if (canonicalize(checkpoints) !== canonicalize(rank0Checkpoints)) {
      const at = checkpoints.findIndex((c, j) => c !== rank0Checkpoints[j]);
      throw fail(
        rank,
        at < 0 || at >= rank0Checkpoints.length
          ? `measured ${checkpoints.length} checkpoints, rank 0 ${rank0Checkpoints.length}`
          : `measured checkpoint ${at} with digest ${checkpoints[at]}, rank 0 ${rank0Checkpoints[at]}: the replicas diverged`,
      );
    }
  });
  return rank0Checkpoints.length;
}
