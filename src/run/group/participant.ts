import type { AicertCertificate } from '../../cert/certificate.js';
import type { GroupBinding, GroupCommitment, GroupMember } from '../../protocol/group-commitment.js';
import type { PcrAttestation } from '../../tpm/attest-pcrs.js';
import type { PublicArea } from '../../tpm/public.js';

/** What a node brings to the group when it joins: its member entry and a way to quote with its AK. */
export interface NodeJoin {
  member: GroupMember;
  akPublic: PublicArea;
  /** A quote by the node's AK over `qualifyingData` (authenticates the node on the channel). */
  quote(qualifyingData: Buffer): Promise<PcrAttestation>;
  /** 16 random bytes from the node's TPM (rank 0: the group run id). */
  random(bytes: number): Promise<Buffer>;
  /**
   * Whether this node runs the trainer protocol; every node of a group must agree. Rank 0 also
   * gives the randomness r of the group's trainer seed, which the commitment carries.
   */
  trainer?: { r?: Buffer };
}

/** What a node learns by joining: what its commitment event records, and the group commitment. */
export interface GroupJoined {
  binding: GroupBinding;
  commitment: GroupCommitment;
}

/**
 * One node's side of a group run (docs/distributed.md). `certifiedRun` calls these in order,
 * between its single-node steps; any of them throws `group.failed` when the group fails, and
 * `failed` aborts as soon as it does, so the run can stop its command.
 */
export interface GroupParticipant {
  readonly rank: number;
  readonly nodes: number;
  /** Aborted (with the reason) the moment the group fails. */
  readonly failed: AbortSignal;
  /** Joins the group; returns what this node's commitment event records, and the commitment. */
  join(node: NodeJoin): Promise<GroupJoined>;
  /** After this node's start quote: returns once every node has taken its own. */
  barrier(): Promise<void>;
  /** After this node's command: reports its outcome; returns once every node's succeeded. */
  finished(success: boolean): Promise<void>;
  /**
   * Hands over this node's single-node certificate. Rank 0 returns the group's certificate (its
   * own evidence, the group commitment, every other node's evidence); other ranks return
   * undefined once rank 0 has it.
   */
  deliver(own: AicertCertificate): Promise<AicertCertificate | undefined>;
  /** Rank 0: the group's certificate is written; tells every node. Other ranks: nothing. */
  written(): Promise<void>;
  /** Ends the channel; with a reason, first tells the other nodes the run failed. */
  close(reason?: string): Promise<void>;
}
