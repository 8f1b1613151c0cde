import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import { loadTrustAnchors } from '../../src/evidence/ak-trust.js';
import { parsePolicy } from '../../src/evidence/policy.js';
import type { VerificationReport } from '../../src/verify/report.js';
import { collectReport } from '../../src/report/collect-report.js';
import { renderReport } from '../../src/report/render-report.js';
import { freePort } from '../util/free-port.js';

/**
 * The distributed example end to end (examples/pytorch-fashion-mnist/ddp-two-nodes.sh): two
 * `aicert run` processes, each on its own swtpm, joined on loopback into one group run whose
 * command is a torchrun node of train_ddp.py (PyTorch DDP over gloo, Debian's python3-torch);
 * the group's certificate verifies, and `aicert audit` replays segments of the 2-rank run in one
 * process, bit for bit. Both nodes' aicert, TPMs and trainers are real; nothing is mocked.
 */
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = join(repo, 'examples/pytorch-fashion-mnist/ddp-two-nodes.sh');
const CLI = join(repo, 'dist/src/cli/main.js');

const checkOf = (checks: Array<{ id: string; status: string; reason: string }>, id: string) =>
  checks.filter((c) => c.id === id);

describe('the 2-node PyTorch DDP example (torchrun, gloo, two swtpm)', () => {
  let work: string;
  let stderr = '';
  let status: number | null = null;
  let verified: VerificationReport;
  let audit: any;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-ddp-'));
    const [rendezvous, torch] = [await freePort(), await freePort()];
    const child = spawn('sh', [SCRIPT, join(work, 'run')], {
      env: {
        ...process.env,
        AICERT: `${process.execPath} ${CLI}`,
        AICERT_DDP_PORT: String(rendezvous),
        TORCH_DDP_PORT: String(torch),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    status = await new Promise((resolve) => child.once('exit', resolve));
    verified = JSON.parse(await readFile(join(work, 'run', 'verify.json'), 'utf8'));
    audit = JSON.parse(await readFile(join(work, 'run', 'audit.json'), 'utf8'));
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('the group run certifies, and its certificate verifies under a policy of 2 nodes with the network', (t) => {
    assert.equal(status, 0, stderr);
    // The wall times the script measured (figures, not assertions).
    t.diagnostic(
      stderr
        .split('\n')
        .filter((l) => /^(certified|verified|audited|total)/.test(l))
        .join('; '),
    );
    assert.equal(verified.verdict, 'verified', JSON.stringify(verified.checks.find((c) => c.status === 'failed')));
    for (const id of ['group.commitment', 'group.ranks', 'group.shards', 'group.trainer', 'policy.nodes'])
      assert.deepEqual(
        checkOf(verified.checks, id).map((c) => c.status),
        ['ok'],
        id,
      );
    assert.match(checkOf(verified.checks, 'group.trainer')[0]!.reason, /the same \d+ checkpoints/);
    assert.match(checkOf(verified.checks, 'policy.isolation')[0]!.reason, /with the host's network/);
  });

  test("every node wrote the same checkpoints: the replicas stayed identical, and rank 1's r is the group's", async () => {
    const transcripts = [0, 1].map((rank) => join(work, 'run', `node${rank}`, 'model.transcript', 'checkpoints'));
    const names = await readdir(transcripts[0]!);
    assert.ok(names.length >= 2);
    assert.deepEqual(await readdir(transcripts[1]!), names);
    for (const name of names)
      assert.ok(
        (await readFile(join(transcripts[0]!, name))).equals(await readFile(join(transcripts[1]!, name))),
        name,
      );
    const cert = JSON.parse(await readFile(join(work, 'run', 'node0', 'model.aicert.json'), 'utf8'));
    const trainerOf = (records: any[]) => records.find((r) => r.content.type === 'commitment').content.trainer;
    const [rank0, rank1] = [
      trainerOf(cert.evidence.tpm.eventLog),
      trainerOf(cert.evidence.group.nodes[0].tpm.eventLog),
    ];
    assert.equal(rank0.rSource, 'tpm');
    assert.equal(rank1.rSource, 'group');
    assert.equal(rank1.r, cert.evidence.group.commitment.trainer.r);
    assert.equal(rank1.seed, rank0.seed);
  });

  test('the command event records the host network; a policy without network: host refuses it at policy.isolation', async () => {
    const bytes = await readFile(join(work, 'run', 'node0', 'model.aicert.json'));
    const cert = JSON.parse(bytes.toString('utf8'));
    const command = cert.evidence.tpm.eventLog.find((r: any) => r.content.type === 'command').content;
    assert.equal(command.isolation.mode, 'namespaces');
    assert.equal(command.isolation.network, 'host');
    assert.ok(!command.isolation.namespaces.includes('network'));
    const trust = await loadTrustAnchors(join(work, 'run', 'ca', 'ca.pem'));
    const { report } = await verifyCertificate(bytes, 'ddp', {
      trust,
      allowUntrustedAk: false,
      policy: parsePolicy('version: 1\nnodes: 2\n'),
    });
    const failed = report.checks.find((c) => c.status === 'failed');
    assert.equal(failed?.id, 'policy.isolation');
    assert.match(failed!.reason, /host's network/);
  });

  test("the report lists both nodes: rank, AK, trust, host, quotes, shard and the command's network", async () => {
    const bytes = await readFile(join(work, 'run', 'node0', 'model.aicert.json'));
    const cert = JSON.parse(bytes.toString('utf8'));
    const trust = await loadTrustAnchors(join(work, 'run', 'ca', 'ca.pem'));
    const verification = await verifyCertificate(bytes, 'ddp', { trust, allowUntrustedAk: false });
    const model = collectReport(bytes, 'model.aicert.json', verification);
    const group = model.run!.group!;
    assert.deepEqual(
      group.nodes.map((n) => [n.rank, n.facts.verified, n.facts.akTrust?.level, n.facts.quotes.length]),
      [
        [0, true, 'ca', 2],
        [1, true, 'ca', 2],
      ],
    );
    assert.equal(group.trainer, true);
    const page = renderReport(model);
    const nodes = page.slice(
      page.indexOf('<section id="nodes">'),
      page.indexOf('</section>', page.indexOf('id="nodes"')),
    );
    assert.match(nodes, /The 2 nodes/);
    const rank1Ak = cert.evidence.group.nodes[0].tpm.eventLog[0].content.akName;
    assert.ok(nodes.includes(rank1Ak), "rank 1's AK Name is listed");
    assert.ok(nodes.includes(cert.evidence.group.commitment.runId));
  });

  test('aicert audit replays segments of the 2-rank run in one process, bit for bit', () => {
    const status = (id: string) => audit.checks.find((c: any) => c.id === id)?.status;
    for (const id of [
      'certificate',
      'trainer.commitment',
      'transcript.integrity',
      'transcript.batches',
      'init',
      'replay',
    ])
      assert.equal(status(id), 'ok', id);
    assert.ok(audit.segments.length >= 1);
    for (const s of audit.segments) assert.equal(s.replay.digestEqual, true, `segment ${s.index}`);
    // Few segments give the memorization test too little power for a pass; it ran, and did not fail.
    assert.notEqual(audit.verdict, 'failed');
  });
});
