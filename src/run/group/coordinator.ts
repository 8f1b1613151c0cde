import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { AicertError } from '../../errors.js';
import { parseCertificate, type AicertCertificate, type CertificateGroupNode } from '../../cert/certificate.js';
import {
  groupCommitmentDigest,
  groupData,
  shardPlanMismatch,
  type GroupBinding,
  type GroupCommitment,
} from '../../protocol/group-commitment.js';
import { objectName, parsePublic2b } from '../../tpm/public.js';
import { decodeBase64Strict } from '../../util/base64.js';
import { Channel, GroupFailure } from './channel.js';
import { akPublicBase64, channelQuote, checkChannelQuote, commitmentChallenge, joinChallenge } from './channel-auth.js';
import type { MessageOf } from './messages.js';
import type { GroupJoined, GroupParticipant, NodeJoin } from './participant.js';
import type { GroupAddress } from './group-address.js';

interface Joined {
  channel: Channel;
  join: MessageOf<'join'>;
}

/**
 * Rank 0 of a group run (docs/distributed.md): listens on the rendezvous address, admits one
 * node per rank 1 … N−1 (each authenticated by its AK's quote), builds the group commitment,
 * runs the barrier, collects every outcome and every node's evidence, and tells every node
 * when the certificate is written or the run failed.
 */
export class GroupCoordinator implements GroupParticipant {
  readonly rank = 0;
  private readonly controller = new AbortController();
  private readonly connections = new Set<Channel>();
  private readonly members = new Map<number, Joined>();
  private allJoined: (() => void) | undefined;
  private sealed = false;
  private binding: GroupBinding | undefined;
  private commitment: GroupCommitment | undefined;

  private constructor(
    private readonly address: GroupAddress,
    private readonly server: Server,
  ) {}

  get nodes(): number {
    return this.address.nodes;
  }

  get failed(): AbortSignal {
    return this.controller.signal;
  }

  /** Listens on the rendezvous address at once, so nodes can connect while rank 0 measures. */
  static async listen(address: GroupAddress): Promise<GroupCoordinator> {
    const server = createServer();
    const coordinator = new GroupCoordinator(address, server);
    server.on('connection', (socket) => coordinator.admit(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(new GroupFailure(`cannot listen on ${address.host}:${address.port}: ${err.message}`)),
      );
      server.listen(address.port, address.host, () => resolve());
    });
    address.log(`rank 0: listening on ${address.host}:${address.port} for ${address.nodes - 1} other node(s)`);
    return coordinator;
  }

  async join(node: NodeJoin): Promise<GroupJoined> {
    if (this.members.size < this.nodes - 1) {
      const joined = new Promise<void>((resolve) => {
        this.allJoined = resolve;
      });
      await this.race(joined, this.address.timeoutMs, `not every node joined within ${this.seconds} s`);
    }
    this.sealed = true;
    this.server.close();
    const plan = this.address.shardPlan;
    const ownMismatch = plan && shardPlanMismatch(plan, 0, node.member.data);
    if (ownMismatch) throw this.fail(`the shard plan is not kept (group.shards): ${ownMismatch}`);
    const others = [...this.members.entries()].sort(([a], [b]) => a - b).map(([, m]) => m);
    const members = [node.member, ...others.map((m) => m.join.member)];
    const commitment: GroupCommitment = {
      type: 'aicert-group',
      runId: (await node.random(16)).toString('hex'),
      nodes: this.nodes,
      members,
      data: groupData(members),
      ...(plan && { shardPlan: plan }),
      ...(node.trainer && { trainer: { r: trainerRandomness(node.trainer.r).toString('hex') } }),
    };
    const digest = groupCommitmentDigest(commitment);
    const nonces = others.map((m) => m.join.nonce);
    const quote = channelQuote(await node.quote(commitmentChallenge(digest, nonces)));
    const akPublic = akPublicBase64(node.akPublic);
    for (const m of others) m.channel.send({ type: 'commitment', commitment, akPublic, nonces, quote });
    this.address.log(`rank 0: group commitment ${digest.toString('hex')} sent to ${others.length} node(s)`);
    this.commitment = commitment;
    this.binding = { digest: digest.toString('hex'), rank: 0 };
    return { binding: this.binding, commitment };
  }

  async barrier(): Promise<void> {
    await this.fromEvery('ready', this.address.timeoutMs);
    for (const m of this.members.values()) m.channel.send({ type: 'go' });
  }

  async finished(success: boolean): Promise<void> {
    this.throwIfFailed();
    if (!success) throw this.fail("rank 0's command failed");
    const exits = await this.fromEvery('exit');
    const failed = exits.filter(([, e]) => !e.success).map(([rank]) => rank);
    if (failed.length > 0) throw this.fail(`the command failed on rank ${failed.join(', ')}`);
    for (const m of this.members.values()) m.channel.send({ type: 'proceed' });
  }

  async deliver(own: AicertCertificate): Promise<AicertCertificate> {
    const received = await this.fromEvery('evidence', this.address.timeoutMs);
    const nodes = received.map(([rank, e]) => this.nodeEvidence(rank, e.certificate));
    this.throwIfFailed();
    const group = { commitment: this.commitment!, nodes };
    return { ...own, evidence: { ...own.evidence, group } };
  }

  async written(): Promise<void> {
    for (const m of this.members.values()) {
      m.channel.send({ type: 'done' });
      m.channel.end();
    }
  }

  async close(reason?: string): Promise<void> {
    if (reason !== undefined) this.fail(reason);
    for (const c of this.connections) c.end();
    this.server.close();
  }

  private get seconds(): number {
    return Math.round(this.address.timeoutMs / 1000);
  }

  /** A new connection: welcome it with a fresh nonce and wait (bounded) for its authenticated join. */
  private admit(socket: Socket): void {
    const from = `a connection from ${socket.remoteAddress}:${socket.remotePort}`;
    if (this.sealed || this.failed.aborted) {
      socket.destroy();
      return;
    }
    const channel = new Channel(socket, from, (reason) => this.lost(channel, reason));
    this.connections.add(channel);
    const nonce = randomBytes(32).toString('hex');
    channel.send({ type: 'welcome', nodes: this.nodes, nonce });
    channel
      .receive('join', this.address.timeoutMs)
      .then((join) => this.accept(channel, join, nonce))
      .catch((err: Error) => {
        if (!(err instanceof AicertError)) throw err;
        this.address.log(`rank 0: refused ${from}: ${err.message}`);
        channel.break(err.message, true);
      });
  }

  private async accept(channel: Channel, join: MessageOf<'join'>, nonce: string): Promise<void> {
    const { rank } = join.member;
    if (join.nodes !== this.nodes)
      throw new GroupFailure(`it runs a group of ${join.nodes} nodes, rank 0 one of ${this.nodes}`);
    if (rank < 1 || rank >= this.nodes) throw new GroupFailure(`rank ${rank} is not one of 1 … ${this.nodes - 1}`);
    const challenge = joinChallenge(nonce, join.member, join.nonce);
    await checkChannelQuote(join.quote, join.akPublic, join.member.akName, challenge, `rank ${rank}`);
    if (this.members.has(rank) || this.sealed) throw new GroupFailure(`rank ${rank} has already joined`);
    // An authenticated node on the wrong data: the planned run cannot happen, so every node stops.
    const mismatch = this.address.shardPlan && shardPlanMismatch(this.address.shardPlan, rank, join.member.data);
    if (mismatch) throw this.fail(`the shard plan is not kept (group.shards): ${mismatch}`);
    channel.peer = `rank ${rank}`;
    this.members.set(rank, { channel, join });
    this.address.log(`rank 0: rank ${rank} joined (AK ${join.member.akName.slice(0, 16)}…)`);
    if (this.members.size === this.nodes - 1) this.allJoined?.();
  }

  /** A channel broke: a member's breaking fails the group; a connection that never joined is only dropped. */
  private lost(channel: Channel, reason: string): void {
    this.connections.delete(channel);
    const member = [...this.members.values()].some((m) => m.channel === channel);
    if (member) this.fail(reason);
  }

  /** Fails the group (once): every node is told why, and the run's command is stopped. */
  private fail(reason: string): GroupFailure {
    if (!this.failed.aborted) {
      this.controller.abort(new GroupFailure(reason));
      for (const c of this.connections) c.break(reason, true);
      this.server.close();
    }
    return this.failed.reason as GroupFailure;
  }

  private throwIfFailed(): void {
    if (this.failed.aborted) throw this.failed.reason;
  }

  /** Waits for `promise`, failing the group on timeout or as soon as the group fails. */
  private async race<T>(promise: Promise<T>, timeoutMs: number, timeoutReason: string): Promise<T> {
    this.throwIfFailed();
    let timer: NodeJS.Timeout | undefined;
    const failed = new Promise<never>((_, reject) => {
      this.failed.addEventListener('abort', () => reject(this.failed.reason), { once: true });
      timer = setTimeout(() => reject(this.fail(timeoutReason)), timeoutMs);
    });
    try {
      return await Promise.race([promise, failed]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** One message of `type` from every member, in rank order. */
  private async fromEvery<T extends 'ready' | 'exit' | 'evidence'>(
    type: T,
    timeoutMs?: number,
  ): Promise<Array<[number, MessageOf<T>]>> {
    this.throwIfFailed();
    const ranks = [...this.members.keys()].sort((a, b) => a - b);
    return Promise.all(
      ranks.map(
        async (rank) =>
          [rank, await this.members.get(rank)!.channel.receive(type, timeoutMs)] as [number, MessageOf<T>],
      ),
    );
  }

  /**
   * A node's certificate, checked enough to fail the run early if it could never verify here:
   * well formed, a single node's, bound to this group under its rank, by the AK it joined with.
   */
  private nodeEvidence(rank: number, text: string): CertificateGroupNode {
    const who = `rank ${rank}`;
    let cert: AicertCertificate;
    try {
      cert = parseCertificate(Buffer.from(text, 'utf8'));
    } catch (err) {
      throw this.fail(`${who} sent evidence that is not a certificate: ${(err as Error).message}`);
    }
    if (cert.evidence.group) throw this.fail(`${who} sent a group certificate, not its own evidence`);
    const commitment = cert.evidence.tpm.eventLog.find((r) => r.content.type === 'commitment')?.content as
      | { group?: GroupBinding }
      | undefined;
    if (commitment?.group?.digest !== this.binding?.digest || commitment?.group?.rank !== rank)
      throw this.fail(`${who} sent evidence bound to another group commitment or rank`);
    const ak = objectName(parsePublic2b(decodeBase64Strict(cert.evidence.tpm.akPublic, `${who}'s AK`)));
    if (ak.toString('hex') !== this.members.get(rank)!.join.member.akName)
      throw this.fail(`${who} sent evidence signed by another AK than the one it joined with`);
    return { rank, statement: cert.statement, tpm: cert.evidence.tpm };
  }
}

function trainerRandomness(r: Buffer | undefined): Buffer {
  if (r?.length !== 32)
    throw new GroupFailure("rank 0 runs the trainer protocol but has no 32-byte r for the group's seed");
  return r;
}
