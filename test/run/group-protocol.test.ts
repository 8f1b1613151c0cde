import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { resolveGroupAddress } from '../../src/run/group/group-address.js';
import { GroupCoordinator } from '../../src/run/group/coordinator.js';
import type { GroupMessage } from '../../src/run/group/messages.js';
import { freePort } from '../util/free-port.js';

/**
 * The group protocol's parts that need no TPM: where a node's rank and group come from (flags,
 * then torchrun, Slurm, Kubernetes), and rank 0 refusing peers that break the protocol or do not
 * hold the AK they name, without failing the group for them.
 */
const quiet = () => undefined;

describe('a node finds its group from flags or the launcher environment', () => {
  test('flags win; --nodes 1 or no --nodes is a single-node run', () => {
    const a = resolveGroupAddress({ nodes: '4', nodeRank: '2', rendezvous: 'head:7000' }, { RANK: '1' }, quiet);
    assert.deepEqual(
      { ...a, log: undefined },
      {
        nodes: 4,
        rank: 2,
        host: 'head',
        port: 7000,
        timeoutMs: 600_000,
        log: undefined,
      },
    );
    assert.equal(resolveGroupAddress({}, {}, quiet), undefined);
    assert.equal(resolveGroupAddress({ nodes: '1' }, {}, quiet), undefined);
  });

  test("torchrun's RANK, WORLD_SIZE and MASTER_ADDR, with aicert's own rendezvous port", () => {
    const a = resolveGroupAddress({}, { RANK: '1', WORLD_SIZE: '2', MASTER_ADDR: '10.0.0.5' }, quiet)!;
    assert.deepEqual([a.nodes, a.rank, a.host, a.port], [2, 1, '10.0.0.5', 29400]);
    const b = resolveGroupAddress({ rendezvousPort: '5000' }, { RANK: '0', WORLD_SIZE: '2', MASTER_ADDR: 'h' }, quiet)!;
    assert.equal(b.port, 5000);
  });

  test("Slurm's SLURM_PROCID and SLURM_NTASKS; a Kubernetes indexed Job's JOB_COMPLETION_INDEX with --nodes", () => {
    const slurm = resolveGroupAddress({ rendezvous: 'n1:7000' }, { SLURM_PROCID: '3', SLURM_NTASKS: '8' }, quiet)!;
    assert.deepEqual([slurm.nodes, slurm.rank], [8, 3]);
    const k8s = resolveGroupAddress(
      { nodes: '2', rendezvous: 'job-0.svc:7000' },
      { JOB_COMPLETION_INDEX: '1' },
      quiet,
    )!;
    assert.deepEqual([k8s.nodes, k8s.rank, k8s.host], [2, 1, 'job-0.svc']);
  });

  test('a missing rank or rendezvous, a rank out of range, or a bad port is a usage error (exit 2)', () => {
    const usage = (flags: object, env: NodeJS.ProcessEnv, code: string) =>
      assert.throws(
        () => resolveGroupAddress(flags, env, quiet),
        (e: any) => e.code === code && e.exitStatus === 2,
      );
    usage({ nodes: '2', rendezvous: 'h:1' }, {}, 'usage.node-rank');
    usage({ nodes: '2', nodeRank: '0' }, {}, 'usage.rendezvous');
    usage({ nodes: '2', nodeRank: '2', rendezvous: 'h:1' }, {}, 'usage.node-rank');
    usage({ nodes: '2', nodeRank: '0', rendezvous: 'h:70000' }, {}, 'usage.rendezvous');
    usage({ nodeRank: '0' }, {}, 'usage.nodes');
    usage({ nodes: 'two' }, {}, 'usage.nodes');
  });
});

/** A raw TCP peer speaking the group protocol's framing. */
async function rawPeer(port: number) {
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
  let buffered = Buffer.alloc(0);
  const messages: GroupMessage[] = [];
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('data', (d) => {
    buffered = Buffer.concat([buffered, d]);
    while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32BE(0)) {
      const n = buffered.readUInt32BE(0);
      messages.push(JSON.parse(buffered.subarray(4, 4 + n).toString('utf8')));
      buffered = buffered.subarray(4 + n);
    }
  });
  const sendRaw = (bytes: Buffer) => socket.write(bytes);
  const send = (message: unknown) => {
    const body = Buffer.from(JSON.stringify(message));
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length);
    sendRaw(Buffer.concat([head, body]));
  };
  return { socket, messages, closed, send, sendRaw };
}

describe('rank 0 refuses peers that break the protocol, without failing the group', () => {
  test('a malformed join, an oversized frame and a join whose quote is not by the named AK are each refused', async () => {
    const port = await freePort();
    const logged: string[] = [];
    const rank0 = await GroupCoordinator.listen({
      nodes: 2,
      rank: 0,
      host: '127.0.0.1',
      port,
      timeoutMs: 60_000,
      log: (l) => logged.push(l),
    });
    try {
      const malformed = await rawPeer(port);
      malformed.send({ type: 'join', nodes: 2 });
      await malformed.closed;
      assert.equal(malformed.messages[0]?.type, 'welcome');
      assert.equal(malformed.messages.at(-1)?.type, 'abort');
      assert.match((malformed.messages.at(-1) as any).reason, /sent a malformed message/);

      const oversized = await rawPeer(port);
      const head = Buffer.alloc(4);
      head.writeUInt32BE(0xffffffff);
      oversized.sendRaw(head);
      await oversized.closed;
      assert.match((oversized.messages.at(-1) as any).reason, /frame, over the \d+-byte limit/);

      const impostor = await rawPeer(port);
      const hex = (n: number) => 'ab'.repeat(n);
      impostor.send({
        type: 'join',
        nodes: 2,
        akPublic: Buffer.from('not a TPM2B_PUBLIC').toString('base64'),
        member: { rank: 1, akName: `000b${hex(32)}`, sessionId: hex(16), events: [hex(32)], data: [] },
        nonce: hex(32),
        quote: { attest: 'AAAA', signature: 'AAAA', pcrs: {} },
      });
      await impostor.closed;
      assert.match((impostor.messages.at(-1) as any).reason, /^rank 1 is not authenticated by its AK/);

      // None of them failed the group: rank 0 still waits for a genuine rank 1.
      assert.equal(rank0.failed.aborted, false);
      assert.equal(logged.filter((l) => l.startsWith('rank 0: refused')).length, 3);
    } finally {
      await rank0.close();
    }
  });
});
