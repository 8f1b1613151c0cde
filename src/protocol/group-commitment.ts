import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalize } from '../util/jcs.js';
import type { ArtifactEvent } from './run-events.js';

/**
 * The group commitment of a multi-node run (docs/distributed.md): every node's AK, session,
 * events before its commitment and data shard, fixed by rank 0 before any node starts its
 * command. Every node's `commitment` event names its digest and the node's rank, so each node's
 * start quote is bound to it. `aicert run` builds it; the verifier reads it from the certificate.
 */

/** Most nodes a group run may have: bounds the commitment and the certificate. */
export const MAX_GROUP_NODES = 1024;
/** Most datasets one node may train on. */
const MAX_SHARD_DATASETS = 1024;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits');
const rank = z
  .number()
  .int()
  .min(0)
  .max(MAX_GROUP_NODES - 1);

/** What one node commits to: who it is (its AK and session), what it measured, what it trains on. */
export const groupMemberSchema = z.strictObject({
  rank,
  /** TPM Name of the node's AK, hex. */
  akName: z.string().regex(/^[0-9a-f]{4,132}$/),
  /** The node's `session` event's sessionId. */
  sessionId: z.string().regex(/^[0-9a-f]{32}$/),
  /** The digests of the node's events before its commitment event (what its commitment lists). */
  events: z.array(sha256Hex).min(1).max(100_000),
  /** Its shard: the manifest roots of its dataset inputs, in the order it measured them. */
  data: z.array(sha256Hex).max(MAX_SHARD_DATASETS),
});
export type GroupMember = z.infer<typeof groupMemberSchema>;

export const groupCommitmentSchema = z.strictObject({
  type: z.literal('aicert-group'),
  /** 16 random bytes from rank 0's TPM, hex: no two group runs share a commitment. */
  runId: z.string().regex(/^[0-9a-f]{32}$/),
  nodes: z.number().int().min(2).max(MAX_GROUP_NODES),
  /** One entry per rank, in rank order (the verifier requires ranks 0 … nodes−1 exactly once). */
  members: z.array(groupMemberSchema).min(2).max(MAX_GROUP_NODES),
  /** The data the group claims to have trained on: the shards' union, sorted, without repeats. */
  data: z.array(sha256Hex).max(MAX_GROUP_NODES * MAX_SHARD_DATASETS),
  /**
   * The shard plan rank 0 was given before any node joined (`aicert run --shard-plan`): each
   * rank's dataset manifest roots, in rank order. Absent when the shards are what each node measured.
   */
  shardPlan: z.array(z.array(sha256Hex).max(MAX_SHARD_DATASETS)).min(2).max(MAX_GROUP_NODES).optional(),
  /**
   * A trainer-protocol group run (docs/distributed.md, "Data-parallel training"): the randomness
   * r every node mixes into its trainer seed, from rank 0's TPM or a verifier's challenge, so that
   * nodes committed to the same code, config and data derive the same seed s.
   */
  trainer: z.strictObject({ r: sha256Hex }).optional(),
});
export type GroupCommitment = z.infer<typeof groupCommitmentSchema>;

/** What a node's `commitment` event records about its group. */
export const groupBindingSchema = z.strictObject({
  /** SHA-256(JCS(group commitment)), hex. */
  digest: sha256Hex,
  rank,
});
export type GroupBinding = z.infer<typeof groupBindingSchema>;

export function groupCommitmentDigest(commitment: GroupCommitment): Buffer {
  return createHash('sha256').update(canonicalize(commitment), 'utf8').digest();
}

/** A node's shard as it measured it: the manifest roots of its dataset inputs. */
export function shardOf(inputs: readonly Pick<ArtifactEvent, 'role' | 'digest'>[]): string[] {
  return inputs.filter((i) => i.role === 'dataset').map((i) => i.digest.sha256);
}

/** The data a group claims: the union of its shards, sorted, without repeats. */
export function groupData(members: readonly Pick<GroupMember, 'data'>[]): string[] {
  return [...new Set(members.flatMap((m) => m.data))].sort();
}

/** A shard plan (`aicert run --shard-plan FILE`): `{"shards": [[root, …], …]}`, rank i's dataset roots at i. */
export const shardPlanFileSchema = z.strictObject({
  shards: z.array(z.array(sha256Hex).max(MAX_SHARD_DATASETS)).min(2).max(MAX_GROUP_NODES),
});

/** Why rank `rank`'s measured shard is not the one the plan assigns it; undefined when it is. */
export function shardPlanMismatch(
  plan: readonly string[][],
  rank: number,
  measured: readonly string[],
): string | undefined {
  const assigned = plan[rank];
  if (assigned === undefined) return `the shard plan assigns no shard to rank ${rank}`;
  if (canonicalize(assigned) === canonicalize(measured)) return undefined;
  return `rank ${rank} measured the datasets ${measured.join(', ') || '(none)'}, but the shard plan assigns it ${assigned.join(', ') || '(none)'}`;
}
