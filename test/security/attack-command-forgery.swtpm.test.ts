import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { certifiedRun, type RunOptions } from '../../src/run/certified-run.js';
import { LOCK_DIRECTORY } from '../../src/run/tpm-lock.js';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import { NO_TRUST_ANCHORS } from '../../src/evidence/ak-trust.js';
import { parsePolicy } from '../../src/evidence/policy.js';
import { parseCertificate } from '../../src/cert/certificate.js';

/**
 * The training command is hostile (issue 16, docs/security.md): run as the certified command, a
 * forging program must not reach the TPM (Unix socket or TCP), the simulator's state, aicert's
 * state directory or the network. It tries each and writes what it reached into its "model";
 * the same program run with `--isolation none` reaches the TPM, which shows the probe has teeth.
 */
const CLIENT = fileURLToPath(new URL('../../src/tpm/client.js', import.meta.url));

/** Tries every way to the TPM and aicert's secrets; writes {what: 'reached' | 'blocked: …'} as weights.json. */
function forger(o: { tpms: string[]; paths: string[]; tcpPorts: number[]; output: string }): string[] {
  const script = `
import { Tpm } from ${JSON.stringify(CLIENT)};
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
const o = ${JSON.stringify(o)};
const report = {};
const attempt = async (name, fn) => {
  try { await fn(); report[name] = 'reached'; } catch (e) { report[name] = 'blocked: ' + (e.code ?? e.message); }
};
for (const address of o.tpms) {
  await attempt('tpm ' + address, async () => {
    const tpm = await Tpm.open(address);
    try { await tpm.getRandom(8); } finally { await tpm.close(); }
  });
}
for (const path of o.paths) await attempt('read ' + path, async () => readdirSync(path));
for (const port of o.tcpPorts) {
  await attempt('tcp 127.0.0.1:' + port, () => new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(); });
    s.on('error', reject);
  }));
}
mkdirSync(o.output, { recursive: true });
writeFileSync(o.output + '/weights.json', JSON.stringify(report, null, 2));
`;
  return [process.execPath, '--input-type=module', '-e', script];
}

describe('the certified command is confined', () => {
  let work: string;
  let home: string;
  let unixSim: Simulator;
  let tcpSim: Simulator;
  let code: string;
  let data: string;
  const savedHome = process.env.AICERT_HOME;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-isolation-'));
    home = join(work, 'home');
    await mkdir(join(home, 'ak'), { recursive: true });
    process.env.AICERT_HOME = home;
    [unixSim, tcpSim] = await Promise.all([
      startSimulator({ transport: 'unix' }),
      startSimulator({ transport: 'tcp' }),
    ]);
    code = join(work, 'code');
    data = join(work, 'data.jsonl');
    await mkdir(code);
    await writeFile(join(code, 'train.js'), '// trains');
    await writeFile(data, '{"x":1}\n');
  });
  after(async () => {
    await Promise.all([unixSim?.stop(), tcpSim?.stop()]);
    if (savedHome === undefined) delete process.env.AICERT_HOME;
    else process.env.AICERT_HOME = savedHome;
    await rm(work, { recursive: true, force: true });
  });

  async function runForger(name: string, tpm: Simulator, isolation: RunOptions['isolation']) {
    const output = join(work, name, 'model');
    const tcpPort = Number(/:(\d+)$/.exec(tcpSim.address)![1]);
    // The run's own TPM, its state and the host's TPM locks (the run holds one while the command runs);
    // any TCP port stands for the network (another TPM is not this run's AK).
    const paths = tpm === unixSim ? [home, LOCK_DIRECTORY, unixSim.dir] : [home, LOCK_DIRECTORY];
    const command = forger({ tpms: [tpm.address], paths, tcpPorts: [tcpPort], output });
    const result = await certifiedRun({
      code,
      data: [data],
      output,
      certificatePath: `${output}.aicert.json`,
      tpm: tpm.address,
      pcr: 23,
      command,
      certifyFailure: false,
      isolation,
      log: () => undefined,
    });
    assert.equal(result.outcome.exitCode, 0);
    const reached = JSON.parse(await readFile(join(output, 'weights.json'), 'utf8')) as Record<string, string>;
    return { reached, certificate: await readFile(result.certificatePath!) };
  }

  for (const transport of ['unix', 'tcp'] as const) {
    test(`with a ${transport} swtpm, the command reaches neither TPM, nor the simulator's or aicert's state, nor the network`, async () => {
      const { reached, certificate } = await runForger(
        `isolated-${transport}`,
        transport === 'unix' ? unixSim : tcpSim,
        'namespaces',
      );
      for (const [what, outcome] of Object.entries(reached))
        assert.match(outcome, /^blocked: /, `the command reached ${what}`);
      assert.equal(Object.keys(reached).length, transport === 'unix' ? 5 : 4);
      const command = parseCertificate(certificate).evidence.tpm.eventLog.find(
        (r) => r.content.type === 'command',
      )!.content;
      assert.equal((command.isolation as { mode: string }).mode, 'namespaces');
      const { report } = await verifyCertificate(certificate, 'isolated', {
        trust: NO_TRUST_ANCHORS,
        allowUntrustedAk: true,
        policy: parsePolicy('version: 1\nminAkTrust: untrusted\n'),
      });
      assert.equal(report.verdict, 'verified', JSON.stringify(report.checks.at(-1)));
      assert.equal(report.checks.find((c) => c.id === 'policy.isolation')?.status, 'ok');
    });
  }

  test('with --isolation none the same program reaches the TPM, and a policy refuses the certificate at policy.isolation', async () => {
    const { reached, certificate } = await runForger('unconfined', unixSim, 'none');
    assert.equal(reached[`tpm ${unixSim.address}`], 'reached');
    assert.equal(reached[`read ${home}`], 'reached');
    const policy = parsePolicy('version: 1\nminAkTrust: untrusted\n');
    const { report } = await verifyCertificate(certificate, 'unconfined', {
      trust: NO_TRUST_ANCHORS,
      allowUntrustedAk: true,
      policy,
    });
    const failed = report.checks.find((c) => c.status === 'failed');
    assert.equal(failed?.id, 'policy.isolation');
    assert.match(failed!.reason, /isolation none, so it could have reached the TPM/);
    const lenient = parsePolicy('version: 1\nminAkTrust: untrusted\nisolation: any\n');
    assert.equal(
      (
        await verifyCertificate(certificate, 'unconfined', {
          trust: NO_TRUST_ANCHORS,
          allowUntrustedAk: true,
          policy: lenient,
        })
      ).report.verdict,
      'verified',
    );
  });

  test('an output inside a hidden directory is refused before anything runs', async () => {
    const output = join(home, 'model');
    await assert.rejects(
      certifiedRun({
        code,
        data: [data],
        output,
        certificatePath: join(work, 'x.aicert.json'),
        tpm: unixSim.address,
        pcr: 23,
        command: ['true'],
        certifyFailure: false,
        log: () => undefined,
      }),
      (e: unknown) =>
        (e as { code?: string }).code === 'usage.isolation' && /hidden from the training command/.test(String(e)),
    );
  });
});
