import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { certifiedRun, type RunOptions } from '../../src/run/certified-run.js';
import { verifyCertificate, type VerifyOptions } from '../../src/verify/verify-certificate.js';
import { loadTrustAnchors, NO_TRUST_ANCHORS, type TrustAnchors } from '../../src/evidence/ak-trust.js';
import { parsePolicy } from '../../src/evidence/policy.js';
import type { VerificationReport } from '../../src/verify/report.js';
import { measureDatasetArtifact } from '../../src/protocol/artifacts.js';
import { checkShards } from '../../src/verify/group-checks.js';
import { enrollAllWithNewCa } from '../fixtures/enrolled-ak.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { readFileSync } from 'node:fs';
import { freePort } from '../util/free-port.js';

/**
 * Multi-node certified runs (docs/distributed.md) on loopback, each node with its own swtpm:
 * an honest 2-node run verifies and lists both nodes; each way of forging or breaking one is
 * refused at its named check; a node failing or vanishing fails every node, and nothing is written.
 */
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** "Training" on one node: the model is a digest of the node's shard. */
const TRAIN = `const fs=require('fs'),c=require('crypto');const [d,o]=process.argv.slice(1);fs.mkdirSync(o,{recursive:true});fs.writeFileSync(o+'/weights.bin',c.createHash('sha256').update(fs.readFileSync(d)).digest());`;
/**
 * Writes its output, then waits until the file `release` exists or its aicert is gone (so a test
 * can act mid-run, and a command orphaned by a killed aicert ends).
 */
const WAIT = `const fs=require('fs');const [o,r]=process.argv.slice(1);fs.mkdirSync(o,{recursive:true});fs.writeFileSync(o+'/weights.bin','w');const p=process.ppid;const t=setInterval(()=>{if(fs.existsSync(r)||process.ppid!==p)clearInterval(t);},50);`;

let work: string;
let sims: Simulator[];
let anchors: TrustAnchors;
let code: string;
let shards: string[];

function nodeOptions(name: string, rank: number, port: number, command?: string[], tpm?: string): RunOptions {
  const output = join(work, name, `node${rank}`, 'model');
  return {
    code,
    data: [shards[rank]!],
    output,
    certificatePath: `${output}.aicert.json`,
    tpm: tpm ?? sims[rank]!.address,
    command: command ?? [process.execPath, '-e', TRAIN, shards[rank]!, output],
    certifyFailure: false,
    log: () => undefined,
    group: { nodes: 2, rank, host: '127.0.0.1', port, timeoutMs: 60_000, log: () => undefined },
  };
}

/** Both ranks of one group run, in this process; settles when both have. */
async function groupRun(name: string, commands: Array<string[] | undefined> = [], tpms: string[] = []) {
  const port = await freePort();
  return Promise.allSettled(
    [0, 1].map((rank) => certifiedRun(nodeOptions(name, rank, port, commands[rank], tpms[rank]))),
  );
}

async function verify(cert: unknown, options: Partial<VerifyOptions> = {}): Promise<VerificationReport> {
  const bytes = Buffer.from(JSON.stringify(cert));
  return (await verifyCertificate(bytes, 'test', { trust: anchors, allowUntrustedAk: false, ...options })).report;
}

function firstFailure(r: VerificationReport) {
  return r.checks.find((c) => c.status === 'failed');
}

async function expectFailure(cert: unknown, check: string, reason: RegExp, options: Partial<VerifyOptions> = {}) {
  const r = await verify(cert, options);
  assert.notEqual(r.verdict, 'verified', `expected ${check} to fail, but the certificate verified`);
  const failed = firstFailure(r);
  assert.equal(failed?.id, check, JSON.stringify(failed));
  assert.match(failed!.reason, reason);
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v));

describe('multi-node certified runs on two swtpm instances', () => {
  let a: any;
  let b: any;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-group-'));
    process.env.AICERT_HOME = join(work, 'home');
    sims = [await startSimulator(), await startSimulator()];
    code = join(work, 'code');
    await mkdir(code);
    await writeFile(join(code, 'train.js'), TRAIN);
    shards = [join(work, 'shard-0.jsonl'), join(work, 'shard-1.jsonl')];
    await writeFile(shards[0]!, '{"x":1,"y":0}\n{"x":2,"y":1}\n');
    await writeFile(shards[1]!, '{"x":3,"y":0}\n{"x":4,"y":1}\n');
    await enrollAllWithNewCa(sims, join(work, 'ca'));
    anchors = await loadTrustAnchors(join(work, 'ca', 'ca.pem'));
    for (const name of ['a', 'b']) {
      const results = await groupRun(name);
      for (const r of results) assert.equal(r.status, 'fulfilled', String((r as PromiseRejectedResult).reason));
    }
    a = JSON.parse(await readFile(join(work, 'a', 'node0', 'model.aicert.json'), 'utf8'));
    b = JSON.parse(await readFile(join(work, 'b', 'node0', 'model.aicert.json'), 'utf8'));
  });
  after(async () => {
    await Promise.all((sims ?? []).map((s) => s.stop()));
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('an honest 2-node run verifies; rank 0 alone writes the certificate, and the report lists both nodes', async () => {
    assert.equal(existsSync(join(work, 'a', 'node1', 'model.aicert.json')), false, 'rank 1 wrote a certificate');
    const r = await verify(a, { model: join(work, 'a', 'node0', 'model'), data: [shards[0]!], code });
    assert.equal(r.verdict, 'verified', JSON.stringify(firstFailure(r)));
    for (const id of ['group.commitment', 'group.ranks', 'group.shards'])
      assert.equal(r.checks.find((c) => c.id === id)?.status, 'ok', id);
    const nodeChecks = r.checks.filter((c) => c.id === 'group.node');
    assert.deepEqual(
      nodeChecks.map((c) => c.status),
      ['ok', 'ok'],
    );
    // Rank 1's single-node checks ran too: its quote.end, under its rank.
    assert.match(nodeChecks[1]!.reason, /^rank 1: every single-node check passed \(AK trust ca\)/);
    const group = (r.facts as any).group;
    assert.deepEqual(
      group.nodes.map((n: any) => [n.rank, n.akTrust]),
      [
        [0, 'ca'],
        [1, 'ca'],
      ],
    );
    assert.notEqual(group.nodes[0].akName, group.nodes[1].akName);
    assert.equal(group.data.length, 2);
  });

  test('the published JSON Schema accepts the group certificate, and refuses a group node without evidence', () => {
    const path = fileURLToPath(new URL('../../../schemas/certificate.v1.schema.json', import.meta.url));
    const validate = new Ajv2020({ strict: true, allErrors: true }).compile(JSON.parse(readFileSync(path, 'utf8')));
    assert.equal(validate(a), true, JSON.stringify(validate.errors?.slice(0, 3)));
    const broken = clone(a);
    delete broken.evidence.group.nodes[0].tpm;
    assert.equal(validate(broken), false);
  });

  test('a policy requiring 2 nodes accepts the run; one requiring 3 refuses it at policy.nodes', async () => {
    const ok = await verify(a, { policy: parsePolicy('version: 1\nnodes: 2\n') });
    assert.equal(ok.verdict, 'verified', JSON.stringify(firstFailure(ok)));
    assert.equal(ok.checks.find((c) => c.id === 'policy.nodes')?.status, 'ok');
    await expectFailure(a, 'policy.nodes', /a run of 2 nodes; the policy requires 3/, {
      policy: parsePolicy('version: 1\nnodes: 3\n'),
    });
  });

  test("one node's AK not trusted: refused at ak.trust, naming rank 1", async () => {
    const rank0Ak = a.evidence.tpm.eventLog[0].content.akName;
    const policy = parsePolicy(`version: 1\nminAkTrust: pinned\npinnedAks: ["${rank0Ak}"]\n`);
    await expectFailure(a, 'ak.trust', /^rank 1: the attestation key is not trusted/, {
      trust: NO_TRUST_ANCHORS,
      policy,
    });
  });

  test('one node on a TPM whose AK was never enrolled: the run certifies, and is refused at ak.trust naming rank 1', async () => {
    const stranger = await startSimulator();
    try {
      const results = await groupRun('e', [], [sims[0]!.address, stranger.address]);
      for (const r of results) assert.equal(r.status, 'fulfilled', String((r as PromiseRejectedResult).reason));
      const cert = JSON.parse(await readFile(join(work, 'e', 'node0', 'model.aicert.json'), 'utf8'));
      assert.equal(cert.evidence.group.nodes[0].tpm.akCertificateChain, undefined);
      await expectFailure(cert, 'ak.trust', /^rank 1: the attestation key is not trusted/);
    } finally {
      await stranger.stop();
    }
  });

  test("one node's end quote from another group run: refused at quote.binding, naming rank 1", async () => {
    const forged = clone(a);
    forged.evidence.group.nodes[0].tpm.quotes[1] = b.evidence.group.nodes[0].tpm.quotes[1];
    await expectFailure(forged, 'quote.binding', /^rank 1: the end quote is not bound to the statement/);
  });

  test("one node's whole evidence from another group run: refused at group.commitment", async () => {
    const forged = clone(a);
    forged.evidence.group.nodes[0] = b.evidence.group.nodes[0];
    await expectFailure(
      forged,
      'group.commitment',
      /^rank 1's TPM-measured commitment names group [0-9a-f]+ as rank 1, not this certificate's group/,
    );
  });

  test('a node missing from the certificate: refused at group.ranks', async () => {
    const forged = clone(a);
    forged.evidence.group.nodes = [];
    await expectFailure(forged, 'group.ranks', /no evidence for rank 1 of the 2 nodes/);
  });

  test("the group evidence stripped: refused at group.commitment (rank 0's TPM measured the group)", async () => {
    const forged = clone(a);
    delete forged.evidence.group;
    await expectFailure(forged, 'group.commitment', /the certificate carries no group evidence/);
  });

  test("a node's evidence presented as a single-node certificate: refused at group.commitment", async () => {
    const node = a.evidence.group.nodes[0];
    const alone = { mediaType: a.mediaType, statement: node.statement, evidence: { tpm: node.tpm } };
    await expectFailure(
      alone,
      'group.commitment',
      /names group [0-9a-f]+, but the certificate carries no group evidence/,
    );
  });

  test('the group commitment edited (another shard claimed): refused at group.commitment', async () => {
    const forged = clone(a);
    forged.evidence.group.commitment.data[0] = 'f'.repeat(64);
    await expectFailure(forged, 'group.commitment', /group commitment has digest/);
  });

  test('a run under a shard plan verifies, and the commitment carries the plan rank 0 was given', async () => {
    const plan = await Promise.all(shards.map(async (s) => [(await measureDatasetArtifact(s)).digest.sha256]));
    const port = await freePort();
    const results = await Promise.allSettled(
      [0, 1].map((rank) => {
        const o = nodeOptions('p', rank, port);
        return certifiedRun(rank === 0 ? { ...o, group: { ...o.group!, shardPlan: plan } } : o);
      }),
    );
    for (const r of results) assert.equal(r.status, 'fulfilled', String((r as PromiseRejectedResult).reason));
    const cert = JSON.parse(await readFile(join(work, 'p', 'node0', 'model.aicert.json'), 'utf8'));
    assert.deepEqual(cert.evidence.group.commitment.shardPlan, plan);
    const r = await verify(cert);
    assert.equal(r.verdict, 'verified', JSON.stringify(firstFailure(r)));
    assert.equal(r.checks.find((c) => c.id === 'group.shards')?.status, 'ok');
  });

  test('a node whose data shard was swapped: refused at group.shards on every node, nothing written', async () => {
    const plan = await Promise.all(shards.map(async (s) => [(await measureDatasetArtifact(s)).digest.sha256]));
    const port = await freePort();
    // Rank 1 brings rank 0's shard instead of its own: its measured data is not its planned shard.
    const results = await Promise.allSettled(
      [0, 1].map((rank) => {
        const o = nodeOptions('s', rank, port);
        return certifiedRun(
          rank === 0
            ? { ...o, group: { ...o.group!, shardPlan: plan } }
            : { ...o, data: [shards[0]!], command: [process.execPath, '-e', TRAIN, shards[0]!, o.output] },
        );
      }),
    );
    for (const [rank, r] of results.entries()) {
      assert.equal(r.status, 'rejected', `rank ${rank} did not fail`);
      assert.equal((r as PromiseRejectedResult).reason.code, 'group.failed', `rank ${rank}`);
      assert.match(
        (r as PromiseRejectedResult).reason.message,
        /group\.shards\): rank 1 measured the datasets [0-9a-f]{64}, but the shard plan assigns it [0-9a-f]{64}/,
      );
    }
    for (const rank of [0, 1]) assert.equal(existsSync(join(work, 's', `node${rank}`, 'model.aicert.json')), false);
    // The verifier holds a certificate to the same plan: the honest run's commitment with its
    // shards swapped in the plan is refused at group.shards (checked on the verified logs).
    const verifiedLogs = [a.evidence.tpm, a.evidence.group.nodes[0].tpm].map((tpm: any) => ({
      inputs: tpm.eventLog.map((r: any) => r.content).filter((c: any) => c.type === 'input'),
    }));
    const commitment = { ...a.evidence.group.commitment, shardPlan: [plan[1], plan[0]] };
    assert.throws(
      () => checkShards(commitment, verifiedLogs as any),
      (err: any) => err.code === 'group.shards' && /rank 0 measured .* but the shard plan assigns it/.test(err.message),
    );
  });

  test('rank 0 runs the trainer protocol and rank 1 does not: both fail when rank 1 joins, before any command', async () => {
    const port = await freePort();
    const results = await Promise.allSettled(
      [0, 1].map((rank) => {
        const o = nodeOptions('t', rank, port);
        const trainer = {
          transcript: `${o.output}.transcript`,
          checkpointEvery: 5,
          holdoutFraction: 0.1,
          dataset: shards[0]!,
        };
        return certifiedRun(rank === 0 ? { ...o, trainer } : o);
      }),
    );
    for (const [rank, r] of results.entries()) {
      assert.equal(r.status, 'rejected', `rank ${rank} did not fail`);
      assert.equal((r as PromiseRejectedResult).reason.code, 'group.failed', `rank ${rank}`);
      assert.match(
        (r as PromiseRejectedResult).reason.message,
        /rank 0 runs the trainer protocol \(--trainer\) and rank 1 does not/,
      );
    }
    for (const rank of [0, 1])
      assert.equal(existsSync(join(work, 't', `node${rank}`, 'model')), false, 'a command ran');
  });

  test("a node's command fails: every node fails with group.failed and nothing is written", async () => {
    const results = await groupRun('c', [undefined, [process.execPath, '-e', 'process.exit(3)']]);
    for (const [rank, r] of results.entries()) {
      assert.equal(r.status, 'rejected', `rank ${rank} did not fail`);
      assert.equal((r as PromiseRejectedResult).reason.code, 'group.failed', `rank ${rank}`);
      assert.match((r as PromiseRejectedResult).reason.message, /the command failed on rank 1/);
    }
    for (const rank of [0, 1]) assert.equal(existsSync(join(work, 'c', `node${rank}`, 'model.aicert.json')), false);
  });

  test('a node killed mid-run: the other node stops its command and exits 3; nothing is written', async () => {
    const port = await freePort();
    const release = join(work, 'd', 'release');
    const children = [0, 1].map((rank) => {
      const output = join(work, 'd', `node${rank}`, 'model');
      return spawn(
        process.execPath,
        [
          CLI,
          'run',
          '--tpm',
          sims[rank]!.address,
          '--nodes',
          '2',
          '--node-rank',
          String(rank),
          '--rendezvous',
          `127.0.0.1:${port}`,
          '--code',
          code,
          '--data',
          shards[rank]!,
          '--output',
          output,
          '--',
          process.execPath,
          '-e',
          WAIT,
          output,
          release,
        ],
        { env: { ...process.env }, stdio: ['ignore', 'ignore', 'pipe'] },
      );
    });
    const stderr = ['', ''];
    const ended: Promise<unknown>[] = [];
    const exited = children.map(
      (child, rank) =>
        new Promise<{ code: number | null; signal: string | null }>((resolve) => {
          child.stderr!.on('data', (d) => {
            stderr[rank] += d;
          });
          child.once('exit', (code, signal) => resolve({ code, signal }));
          // stderr closes once every holder has exited: aicert and the command it started.
          ended.push(new Promise((done) => child.stderr!.once('close', done)));
        }),
    );
    try {
      // Both commands are running (each past the barrier): kill rank 1's aicert outright.
      await new Promise<void>((resolve) => {
        const poll = setInterval(() => {
          if (stderr.every((s) => s.includes('aicert: running:'))) {
            clearInterval(poll);
            resolve();
          }
        }, 50);
      });
      children[1]!.kill('SIGKILL');
      const [rank0, rank1] = await Promise.all(exited);
      assert.equal(rank1!.signal, 'SIGKILL', stderr[1]);
      assert.equal(rank0!.code, 3, stderr[0]);
      assert.match(stderr[0]!, /rank 1 disconnected \[group\.failed\]/);
      for (const rank of [0, 1]) assert.equal(existsSync(join(work, 'd', `node${rank}`, 'model.aicert.json')), false);
    } finally {
      // Rank 1's command outlived its killed aicert: let it end.
      await mkdir(join(work, 'd'), { recursive: true });
      await writeFile(release, '');
      for (const child of children) child.kill('SIGKILL');
      await Promise.all(ended);
    }
  });
});
