import { connect, type Socket } from 'node:net';
import type { AicertCertificate } from '../../cert/certificate.js';
import { serializeCertificate } from '../../cert/certificate.js';
import { groupCommitmentDigest } from '../../protocol/group-commitment.js';
import { canonicalize } from '../../util/jcs.js';
import { Channel, GroupFailure } from './channel.js';
import { akPublicBase64, channelQuote, checkChannelQuote, commitmentChallenge, joinChallenge } from './channel-auth.js';
import type { GroupAddress } from './group-address.js';
import type { GroupJoined, GroupParticipant, NodeJoin } from './participant.js';

/** How often a node retries connecting while rank 0 is not listening yet. */
const RETRY_MS = 250;

/**
 * A node of rank 1 … N−1 (docs/distributed.md): connects to rank 0, joins with a quote by its
 * AK, checks the group commitment rank 0 sends (its own entry, rank 0's quote over it and this
 * node's nonce), waits at the barrier, reports its outcome and hands its evidence to rank 0.
 */
export class GroupMemberNode implements GroupParticipant {
  private readonly controller = new AbortController();
  private channel!: Channel;

  private constructor(private readonly address: GroupAddress) {}

  get rank(): number {
    return this.address.rank;
  }

  get nodes(): number {
    return this.address.nodes;
  }

  get failed(): AbortSignal {
    return this.controller.signal;
  }

  /** Connects to rank 0, retrying until it listens or the group timeout passes. */
  static async connect(address: GroupAddress): Promise<GroupMemberNode> {
    const node = new GroupMemberNode(address);
    const deadline = Date.now() + address.timeoutMs;
    const where = `${address.host}:${address.port}`;
    for (;;) {
      try {
        const socket = await openSocket(address.host, address.port);
        node.channel = new Channel(socket, 'rank 0', (reason) => node.fail(reason));
        address.log(`rank ${address.rank}: connected to rank 0 at ${where}`);
        return node;
      } catch (err) {
        if (Date.now() + RETRY_MS > deadline)
          throw new GroupFailure(`cannot reach rank 0 at ${where}: ${(err as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  }

  async join(node: NodeJoin): Promise<GroupJoined> {
    const { timeoutMs } = this.address;
    const welcome = await this.channel.receive('welcome', timeoutMs);
    if (welcome.nodes !== this.nodes)
      throw this.fail(`rank 0 runs a group of ${welcome.nodes} nodes, this node one of ${this.nodes}`);
    const nonce = (await node.random(32)).toString('hex');
    const quote = channelQuote(await node.quote(joinChallenge(welcome.nonce, node.member, nonce)));
    this.channel.send({
      type: 'join',
      nodes: this.nodes,
      akPublic: akPublicBase64(node.akPublic),
      member: node.member,
      nonce,
      quote,
    });
    const sent = await this.channel.receive('commitment', timeoutMs);
    const { commitment, nonces } = sent;
    const digest = groupCommitmentDigest(commitment);
    if (commitment.nodes !== this.nodes || commitment.members.length !== this.nodes)
      throw this.fail(`rank 0's group commitment is for ${commitment.nodes} nodes, not ${this.nodes}`);
    if (canonicalize(commitment.members[this.rank]) !== canonicalize(node.member))
      throw this.fail(`rank 0's group commitment does not hold rank ${this.rank}'s entry as it joined`);
    if (Boolean(commitment.trainer) !== Boolean(node.trainer))
      throw this.fail(
        commitment.trainer
          ? `rank 0 runs the trainer protocol (--trainer) and rank ${this.rank} does not: every node must`
          : `rank ${this.rank} runs the trainer protocol (--trainer) and rank 0 does not: every node must`,
      );
    if (nonces.length !== this.nodes - 1 || nonces[this.rank - 1] !== nonce)
      throw this.fail(`rank 0's group commitment quote does not cover rank ${this.rank}'s nonce`);
    try {
      await checkChannelQuote(
        sent.quote,
        sent.akPublic,
        commitment.members[0]!.akName,
        commitmentChallenge(digest, nonces),
        'rank 0',
      );
    } catch (err) {
      throw this.fail((err as Error).message);
    }
    this.address.log(`rank ${this.rank}: joined group ${digest.toString('hex')}`);
    return { binding: { digest: digest.toString('hex'), rank: this.rank }, commitment };
  }

  async barrier(): Promise<void> {
    this.channel.send({ type: 'ready' });
    await this.channel.receive('go', this.address.timeoutMs);
  }

  async finished(success: boolean): Promise<void> {
    if (this.failed.aborted) throw this.failed.reason;
    this.channel.send({ type: 'exit', success });
    if (!success) throw this.fail(`the command failed on rank ${this.rank}`);
    await this.channel.receive('proceed');
  }

  async deliver(own: AicertCertificate): Promise<undefined> {
    this.channel.send({ type: 'evidence', certificate: serializeCertificate(own) });
    await this.channel.receive('done');
    this.address.log(`rank ${this.rank}: rank 0 wrote the group's certificate`);
    return undefined;
  }

  async written(): Promise<void> {}

  async close(reason?: string): Promise<void> {
    if (reason !== undefined) this.fail(reason);
    this.channel.end();
  }

  /** Fails the group (once): rank 0 is told why, and the run's command is stopped. */
  private fail(reason: string): GroupFailure {
    if (!this.failed.aborted) {
      this.controller.abort(new GroupFailure(reason));
      this.channel.break(reason, true);
    }
    return this.failed.reason as GroupFailure;
  }
}

function openSocket(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', reject);
  });
}
