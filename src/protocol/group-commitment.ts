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
