import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { Tpm } from '../../src/tpm/client.js';
import { TPM_CAP } from '../../src/tpm/constants.js';
import { nvName, parseNvPublic } from '../../src/tpm/nv-public.js';
import { parseAttest } from '../../src/tpm/attest.js';
import { replayEventLog } from '../../src/protocol/event-log.js';
import { certifiedRun, type RunOptions } from '../../src/run/certified-run.js';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import { loadTrustAnchors, type TrustAnchors } from '../../src/evidence/ak-trust.js';
import { parsePolicy } from '../../src/evidence/policy.js';
import { enrollWithNewCa } from '../fixtures/enrolled-ak.js';

/**
 * The default measurement register (issue 12): a run defines a fresh NV extend index, extends
 * every event there, proves its value with NV_Certify by the AK and removes the index; the
 * verifier checks the certifications and reports the register. `--register pcr23` keeps the PCR,
 * loudly.
 */
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const TRAIN = `const fs=require('fs');const o=process.argv[1];fs.mkdirSync(o,{recursive:true});fs.writeFileSync(o+'/weights.bin','w');`;

describe('the NV extend index as the measurement register', () => {
  let work: string;
  let sim: Simulator;
  let anchors: TrustAnchors;
  let code: string;
  let data: string;
  const logs: string[] = [];

  const options = (name: string, extra: Partial<RunOptions> = {}): RunOptions => {
    const output = join(work, name, 'model');
    return {
      code,
      data: [data],
      output,
      certificatePath: `${output}.aicert.json`,
      tpm: sim.address,
      command: [process.execPath, '-e', TRAIN, output],
      certifyFailure: false,
      log: (line) => logs.push(line),
      ...extra,
    };
  };
  const nvIndices = async (): Promise<number[]> => {
    const tpm = await Tpm.open(sim.address);
    try {
      const pages = await tpm.getCapability(TPM_CAP.HANDLES, 0x01000000, 64);
      return pages.flatMap((p) => (p.capability === TPM_CAP.HANDLES ? p.handles : [])).filter((h) => h < 0x01400000);
    } finally {
      await tpm.close();
    }
  };
  const verify = async (bytes: Buffer, policy?: string) =>
    verifyCertificate(bytes, 'test', {
      trust: anchors,
      allowUntrustedAk: false,
      ...(policy !== undefined && { policy: parsePolicy(policy) }),
    });

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-nv-'));
    process.env.AICERT_HOME = join(work, 'home');
    sim = await startSimulator();
    code = join(work, 'code');
    await mkdir(code);
    await writeFile(join(code, 'train.js'), TRAIN);
    data = join(work, 'train.jsonl');
    await writeFile(data, '{"x":1}\n');
    await enrollWithNewCa(sim, join(work, 'ca'));
    anchors = await loadTrustAnchors(join(work, 'ca', 'ca.pem'));
  });
  after(async () => {
    await sim?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('a default run measures into a fresh NV index, certifies it with the AK, removes it, and verifies', async () => {
    const before = await nvIndices();
    const result = await certifiedRun(options('default'));
    assert.deepEqual(await nvIndices(), before, 'the run left its NV index defined');
    const bytes = await readFile(result.certificatePath!);
    const cert = JSON.parse(bytes.toString('utf8'));
    const tpm = cert.evidence.tpm;
    assert.equal(tpm.pcr, undefined);
    const area = parseNvPublic(Buffer.from(tpm.nv.public, 'base64'));
    assert.ok(!before.includes(area.index));
    // Every record is on the index, the session names the index and its Name, the quotes cover boot PCRs only.
    for (const r of tpm.eventLog) assert.deepEqual([r.nv_index, r.pcr], [area.index, undefined]);
    assert.deepEqual(
      [tpm.eventLog[0].content.nvIndex, tpm.eventLog[0].content.nvName],
      [area.index, nvName(area).toString('hex')],
    );
    for (const q of tpm.quotes) assert.deepEqual(Object.keys(q.pcrs.sha256), ['0', '1', '2', '3', '4', '5', '6', '7']);
    // The end certification holds exactly the replay of the whole log, under the index's Name.
    const end = parseAttest(Buffer.from(tpm.nv.certifications[1].attest, 'base64'));
    assert.equal(end.body, 'nv');
    if (end.body === 'nv') {
      assert.deepEqual(end.nv.nvContents, await replayEventLog(tpm.eventLog));
      assert.deepEqual(end.nv.indexName, nvName(area));
    }

    const { report, run } = await verify(bytes, 'version: 1\n');
    assert.equal(report.verdict, 'verified', JSON.stringify(report.checks.find((c) => c.status === 'failed')));
    const status = (id: string) => report.checks.find((c) => c.id === id)?.status;
    for (const id of ['register', 'nv.start', 'nv.end', 'quote.binding', 'eventlog.replay', 'policy.register'])
      assert.equal(status(id), 'ok', id);
    assert.match(report.checks.find((c) => c.id === 'register')!.reason, /NV extend index 0x[0-9a-f]+ \(Name 000b/);
    assert.equal(report.facts?.register, `NV index 0x${area.index.toString(16).padStart(8, '0')}`);
    assert.deepEqual(run?.register, { kind: 'nv', index: area.index });
    assert.equal(run?.pcr, undefined);
  });

  test('a failed run removes its NV index too', async () => {
    const before = await nvIndices();
    const r = await certifiedRun(options('failing', { command: [process.execPath, '-e', 'process.exit(4)'] }));
    assert.equal(r.outcome.exitCode, 4);
    assert.deepEqual(await nvIndices(), before);
    await assert.rejects(
      certifiedRun(options('missing-output', { command: [process.execPath, '-e', ''] })),
      (err: any) => err.code === 'run.no-output',
    );
    assert.deepEqual(await nvIndices(), before, 'a run that threw left its NV index defined');
  });

  test('--register pcr23 measures into PCR 23: warned at run time, flagged by the verifier, refused by a default policy', async () => {
    logs.length = 0;
    const result = await certifiedRun(options('pcr23', { register: 'pcr', pcr: 23 }));
    assert.ok(
      logs.some((l) => /^WARNING: --register pcr23: .*PCR 23.*reset/.test(l)),
      logs.join('\n'),
    );
    const bytes = await readFile(result.certificatePath!);
    const tpm = JSON.parse(bytes.toString('utf8')).evidence.tpm;
    assert.equal(tpm.pcr, 23);
    assert.equal(tpm.nv, undefined);
    const plain = await verify(bytes);
    assert.equal(plain.report.verdict, 'verified');
    assert.match(
      plain.report.checks.find((c) => c.id === 'register')!.reason,
      /^WARNING: the run measured into PCR 23/,
    );
    assert.equal(plain.report.facts?.register, 'PCR 23');
    const refused = await verify(bytes, 'version: 1\n');
    assert.equal(refused.report.checks.find((c) => c.status === 'failed')?.id, 'policy.register');
    assert.equal((await verify(bytes, 'version: 1\nregister: any\n')).report.verdict, 'verified');
  });

  test('the CLI: --register nv|pcr23, and --pcr only with the PCR register', () => {
    const run = (name: string, flags: string[]) => {
      const out = join(work, name, 'model');
      return spawnSync(
        process.execPath,
        [
          CLI,
          'run',
          '--tpm',
          sim.address,
          '--code',
          code,
          '--data',
          data,
          '--output',
          out,
          ...flags,
          '--',
          process.execPath,
          '-e',
          TRAIN,
          out,
        ],
        { encoding: 'utf8', env: { ...process.env } },
      );
    };
    const pcr = run('cli-pcr', ['--register', 'pcr23']);
    assert.equal(pcr.status, 0, pcr.stderr);
    assert.match(pcr.stderr, /WARNING: --register pcr23/);
    const nv = run('cli-nv', []);
    assert.equal(nv.status, 0, nv.stderr);
    assert.match(nv.stderr, /measuring into a fresh NV extend index 0x/);
    const both = run('cli-both', ['--register', 'nv', '--pcr', '16']);
    assert.equal(both.status, 2);
    assert.match(both.stderr, /usage\.register/);
    const bad = run('cli-bad', ['--register', 'pcr7']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--register must be nv or pcr23/);
  });
});
