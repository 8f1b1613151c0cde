import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { lockTpm } from '../../src/run/tpm-lock.js';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import { NO_TRUST_ANCHORS } from '../../src/evidence/ak-trust.js';

/**
 * Issue 16, item 5: the TPM lock was a file named by the address string under $AICERT_HOME, so
 * `tcp://127.0.0.1:P` and `tcp://localhost:P` (or two homes) were two locks, and two runs
 * interleaved their events on one TPM. The lock is now named by the TPM's own AK Name, in one
 * directory for the host.
 */

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

interface Exit {
  code: number | null;
  stderr: string;
}

let work: string;
let sim: Simulator;
let port: number;
let code: string;
let data: string;

/** `aicert run` as a child process, with its own AICERT_HOME; `started` resolves once the command runs. */
function startRun(
  name: string,
  address: string,
  command: string[],
): { exit: Promise<Exit>; started: Promise<void>; certificate: string } {
  const output = join(work, name, 'model');
  const certificate = `${output}.aicert.json`;
  const child = spawn(
    process.execPath,
    [
      CLI,
      'run',
      '--tpm',
      address,
      '--code',
      code,
      '--data',
      data,
      '--output',
      output,
      '--out',
      certificate,
      '--',
      ...command,
    ],
    { env: { ...process.env, AICERT_HOME: join(work, name, 'home') }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  let markStarted: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    if (/running: /.test(stderr)) markStarted();
  });
  const exit = new Promise<Exit>((resolve) => child.on('close', (status) => resolve({ code: status, stderr })));
  return { exit, started: Promise.race([started, exit.then(() => undefined)]), certificate };
}

/** A training command that writes a model into its output directory once the file `release` exists (at once without). */
function trainingCommand(name: string, release?: string): string[] {
  const output = join(work, name, 'model');
  const script =
    "const fs = require('fs'); const [output, release] = process.argv.slice(1);" +
    "const done = () => { fs.mkdirSync(output, { recursive: true }); fs.writeFileSync(output + '/w', 'x'); };" +
    'const wait = () => (!release || fs.existsSync(release) ? done() : setTimeout(wait, 50)); wait();';
  return [process.execPath, '-e', script, output, ...(release ? [release] : [])];
}

describe('attack: two runs on one TPM through two spellings of its address', () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-lock-'));
    sim = await startSimulator({ transport: 'tcp' });
    port = Number(/:(\d+)$/.exec(sim.address)![1]);
    code = join(work, 'code');
    await mkdir(code);
    await writeFile(join(code, 'train.js'), 'console.log("train")\n');
    data = join(work, 'train.jsonl');
    await writeFile(data, '{"x":1}\n');
  });
  after(async () => {
    await sim?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('while a run holds the TPM, runs through localhost and 127.1, each with another AICERT_HOME, are refused with run.tpm-busy', async () => {
    const release = join(work, 'release');
    const first = startRun('first', `swtpm:tcp://127.0.0.1:${port}`, trainingCommand('first', release));
    await first.started;
    try {
      for (const [name, host] of [
        ['second', 'localhost'],
        ['third', '127.1'],
      ] as const) {
        const run = startRun(name, `swtpm:tcp://${host}:${port}`, trainingCommand(name));
        const exit = await run.exit;
        assert.equal(exit.code, 3, exit.stderr);
        assert.match(exit.stderr, /\[run\.tpm-busy\]/);
        assert.equal(existsSync(run.certificate), false);
      }
    } finally {
      await writeFile(release, '');
    }
    const exit = await first.exit;
    assert.equal(exit.code, 0, exit.stderr);
    const bytes = await readFile(first.certificate);
    const { report } = await verifyCertificate(bytes, 'first', { trust: NO_TRUST_ANCHORS, allowUntrustedAk: true });
    assert.equal(report.verdict, 'verified', JSON.stringify(report.checks.find((c) => c.status === 'failed')));
  });

  it('once the first run is over, a run through another spelling takes the TPM', async () => {
    const run = startRun('later', `swtpm:tcp://localhost:${port}`, trainingCommand('later'));
    const exit = await run.exit;
    assert.equal(exit.code, 0, exit.stderr);
    assert.ok(existsSync(run.certificate));
  });
});

describe('the lock directory', () => {
  const akName = Buffer.from('000b' + 'ab'.repeat(32), 'hex');
  let scratch: string;
  before(async () => (scratch = await mkdtemp(join(tmpdir(), 'aicert-lockdir-'))));
  after(async () => rm(scratch, { recursive: true, force: true }));

  it('is created world-writable with the sticky bit, and a second lock of one TPM is refused', async () => {
    const dir = join(scratch, 'locks');
    const unlock = await lockTpm(akName, 'test', dir);
    const { statSync } = await import('node:fs');
    assert.equal(statSync(dir).mode & 0o7777, 0o1777);
    await assert.rejects(lockTpm(akName, 'test', dir), { code: 'run.tpm-busy' });
    await unlock();
    await (await lockTpm(akName, 'test', dir))();
  });

  it('is refused when it is a symbolic link, or writable by others without the sticky bit', async () => {
    const target = join(scratch, 'elsewhere');
    await mkdir(target);
    await symlink(target, join(scratch, 'link'));
    await assert.rejects(lockTpm(akName, 'test', join(scratch, 'link')), { code: 'run.lock-directory' });
    const open = join(scratch, 'open');
    await mkdir(open);
    const { chmodSync } = await import('node:fs');
    chmodSync(open, 0o777);
    await assert.rejects(lockTpm(akName, 'test', open), { code: 'run.lock-directory' });
  });

  it('a lock file that is a symbolic link (to a pipe, say) is never followed', async () => {
    const dir = join(scratch, 'locks-link');
    await (await lockTpm(akName, 'test', dir))(); // creates the directory
    const { tpmLockPath } = await import('../../src/run/tpm-lock.js');
    const { execFileSync } = await import('node:child_process');
    const fifo = join(scratch, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await symlink(fifo, tpmLockPath(akName, dir));
    // Not followed: judged stale (no live owner), moved aside, and the lock taken.
    await (await lockTpm(akName, 'test', dir))();
  });
});
