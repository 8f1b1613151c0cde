import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { Tpm } from '../../src/tpm/client.js';
import { TPM_ALG } from '../../src/tpm/constants.js';
import { parseTcgLog } from '../../src/evidence/boot-log/tcg-log.js';
import { EV_NO_ACTION } from '../../src/evidence/boot-log/tcg-event-types.js';
import { NO_TRUST_ANCHORS } from '../../src/evidence/ak-trust.js';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import { readEventLogFixture } from '../evidence/boot-log/fixtures.js';

/**
 * `bootLog` in aicert.yaml, as `--boot-log` on the command line: relative to the file, and the
 * flag overrides it. swtpm has no firmware, so the events of a real log are extended into its
 * PCRs first (as in test/verify/boot-log.swtpm.test.ts).
 */
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const FIXTURE = 'ubuntu-2404-amd-sevsnp.bin';
const TRAIN = `const fs=require('fs');const o=process.argv[1];fs.mkdirSync(o,{recursive:true});fs.writeFileSync(o+'/w.bin','w');`;

describe('bootLog in the run configuration (aicert.yaml)', () => {
  let work: string;
  let sim: Simulator;
  const logBytes = readEventLogFixture(FIXTURE);

  const run = async (name: string, bootLog: string, flags: string[] = []) => {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    const config = join(dir, 'aicert.yaml');
    await writeFile(
      config,
      [
        'version: 1',
        `code: ../code`,
        `data: [../train.jsonl]`,
        'output: out/model',
        `tpm: "${sim.address}"`,
        `bootLog: ${bootLog}`,
        `command: ["${process.execPath}", "-e", "${TRAIN.replace(/"/g, '\\"')}", "${join(dir, 'out', 'model')}"]`,
        '',
      ].join('\n'),
    );
    const result = spawnSync(process.execPath, [CLI, 'run', '--config', config, ...flags], {
      encoding: 'utf8',
      env: { ...process.env, AICERT_HOME: join(work, 'home') },
    });
    return { ...result, certificate: join(dir, 'out', 'model.aicert.json') };
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-config-bootlog-'));
    sim = await startSimulator();
    const tpm = await Tpm.open(sim.address);
    try {
      for (const event of parseTcgLog(logBytes).events)
        if (event.type !== EV_NO_ACTION)
          await tpm.pcrExtend(event.pcr, [{ hashAlg: TPM_ALG.SHA256, digest: event.digests.get('sha256')! }]);
    } finally {
      await tpm.close();
    }
    await mkdir(join(work, 'code'));
    await writeFile(join(work, 'code', 'train.js'), TRAIN);
    await writeFile(join(work, 'train.jsonl'), '{"x":1}\n');
    await mkdir(join(work, 'with-log'), { recursive: true });
    await writeFile(join(work, 'with-log', 'boot.log'), logBytes);
  });
  after(async () => {
    await sim?.stop();
    await rm(work, { recursive: true, force: true });
  });

  test('a bootLog path relative to aicert.yaml is carried in the certificate, and its log replays', async () => {
    const result = await run('with-log', 'boot.log');
    assert.equal(result.status, 0, result.stderr);
    const bytes = await readFile(result.certificate);
    const carried = JSON.parse(bytes.toString('utf8')).evidence.tpm.bootLog as string;
    assert.ok(Buffer.from(carried, 'base64').equals(logBytes), 'the certificate carries the configured log');
    const { report } = await verifyCertificate(bytes, 'test', { trust: NO_TRUST_ANCHORS, allowUntrustedAk: true });
    assert.equal(report.verdict, 'verified', JSON.stringify(report.checks.find((c) => c.status === 'failed')));
    assert.equal(report.checks.find((c) => c.id === 'boot.eventlog')?.status, 'ok');
  });

  test('a bootLog that does not exist is a usage error; --boot-log on the command line overrides it', async () => {
    const missing = await run('missing', 'no-such.log');
    assert.equal(missing.status, 2, missing.stderr);
    assert.match(missing.stderr, /no-such\.log/);
    const overridden = await run('overridden', 'no-such.log', ['--boot-log', join(work, 'with-log', 'boot.log')]);
    assert.equal(overridden.status, 0, overridden.stderr);
    const carried = JSON.parse(await readFile(overridden.certificate, 'utf8')).evidence.tpm.bootLog as string;
    assert.ok(Buffer.from(carried, 'base64').equals(logBytes));
  });
});
