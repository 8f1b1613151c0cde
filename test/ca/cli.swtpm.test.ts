import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
const FOREIGN_EK_ROOT = new URL('../../../test/evidence/fixtures/swtpm-ek/root.pem', import.meta.url).pathname;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function aicert(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('aicert ca and aicert ak', () => {
  let sim: Simulator;
  let work: string;
  let caDir: string;

  before(async () => {
    sim = await startSimulator();
    work = await mkdtemp(join(tmpdir(), 'aicert-ca-cli-'));
    caDir = join(work, 'ca');
  });
  after(async () => {
    await sim?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('ca init creates the CA and tells how verifiers trust it; a second init is refused', async () => {
    const init = await aicert([
      'ca',
      'init',
      caDir,
      '--ek-roots',
      sim.caRootFile,
      '--ek-intermediates',
      join(sim.dir, 'ca', 'issuercert.pem'),
    ]);
    assert.equal(init.status, 0, init.stderr);
    assert.match(init.stderr, new RegExp(`--trust ${join(caDir, 'ca.pem')}`));
    const again = await aicert(['ca', 'init', caDir, '--ek-roots', sim.caRootFile]);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /\[ca\.exists\]/);
  });

  test('ca serve prints its URL, ak enroll gets a certificate from it, SIGTERM stops it cleanly', async () => {
    const home = join(work, 'home-http');
    const serve = spawn(process.execPath, [CLI, 'ca', 'serve', caDir, '--port', '0']);
    let log = '';
    serve.stderr.on('data', (d) => (log += d));
    const exited = new Promise<number | null>((resolve) => serve.on('close', resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        serve.stdout.on('data', (d) => {
          out += d;
          if (out.includes('\n')) resolve(out.split('\n')[0]!);
        });
        serve.on('close', () => reject(new Error(`ca serve exited: ${log}`)));
      });
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const enroll = await aicert(['ak', 'enroll', '--ca', url, '--tpm', sim.address], { AICERT_HOME: home });
      assert.equal(enroll.status, 0, enroll.stderr);
      const name = /^AK (000b[0-9a-f]{64}) enrolled$/m.exec(enroll.stdout)?.[1];
      assert.ok(name, enroll.stdout);
      assert.ok(existsSync(join(home, 'ak', name, 'chain.pem')));

      const show = await aicert(['ak', 'show', '--tpm', sim.address], { AICERT_HOME: home });
      assert.equal(show.status, 0, show.stderr);
      assert.match(show.stdout, new RegExp(`AK Name\\s+${name}`));
      assert.match(show.stdout, /certificate\s+"CN=aicert AK [0-9a-f]{32}", valid until/);
    } finally {
      serve.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
    assert.match(log, /issued AK certificate [0-9a-f]+ for AK 000b/);
    assert.match(log, /stopped \(SIGTERM\)/);
  });

  test('ak enroll --ca DIR works in-process; a CA with another EK root refuses the TPM (exit 1, nothing stored)', async () => {
    const home = join(work, 'home-dir');
    const ok = await aicert(['ak', 'enroll', '--ca', caDir, '--tpm', sim.address], { AICERT_HOME: home });
    assert.equal(ok.status, 0, ok.stderr);

    const foreignCa = join(work, 'foreign-ca');
    assert.equal((await aicert(['ca', 'init', foreignCa, '--ek-roots', FOREIGN_EK_ROOT])).status, 0);
    const refusedHome = join(work, 'home-refused');
    const refused = await aicert(['ak', 'enroll', '--ca', foreignCa, '--tpm', sim.address], {
      AICERT_HOME: refusedHome,
    });
    assert.equal(refused.status, 1, refused.stderr);
    assert.match(refused.stderr, /EK certificate: the certificate chain does not lead to a trusted CA.*\[ek\.chain\]/);
    assert.equal(existsSync(refusedHome), false, 'no certificate stored');
    assert.deepEqual(await readdir(join(foreignCa, 'issued')), []);
  });

  test('usage errors exit 2 with the reason', async () => {
    const noCa = await aicert(['ak', 'enroll', '--ca', join(work, 'nowhere'), '--tpm', sim.address]);
    assert.equal(noCa.status, 2);
    assert.match(noCa.stderr, /\[ca\.not-found\]/);
    const badPort = await aicert(['ca', 'serve', caDir, '--port', 'eighty']);
    assert.equal(badPort.status, 2);
    assert.match(badPort.stderr, /TCP port/);
  });

  test('--help teaches with examples', async () => {
    const enroll = await aicert(['ak', 'enroll', '--help']);
    assert.match(enroll.stdout, /aicert ak enroll --ca http:\/\/127\.0\.0\.1:8420/);
    assert.match(enroll.stdout, /gets no certificate/);
  });
});
