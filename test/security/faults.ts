/**
 * Fault injection into real `aicert run` processes on swtpm: the training command killed, aicert
 * itself killed in each phase, swtpm killed, the disk full under the certificate, inputs changed
 * or deleted while hashed, two runs at once. Each fault asserts what must hold afterwards — no
 * certificate or an intact old one, no temp file beside it, a clear error and exit status, and a
 * TPM the next run can use — and throws (an AssertionError) when it does not.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readlinkSync, statfsSync, truncateSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { enrollWithNewCa } from '../fixtures/enrolled-ak.js';
import { loadTrustAnchors, type TrustAnchors } from '../../src/evidence/ak-trust.js';
import { verifyCertificate } from '../../src/verify/verify-certificate.js';
import { TRAIN } from './swtpm-fixtures.js';
import { Tpm } from '../../src/tpm/client.js';
import { createAk } from '../../src/tpm/keys.js';
import { objectName } from '../../src/tpm/public.js';
import { tpmLockPath } from '../../src/run/tpm-lock.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface FaultBench {
  work: string;
  /** AICERT_HOME of every run (AK chain, locks). */
  home: string;
  sim: Simulator;
  anchors: TrustAnchors;
  code: string;
  /** A small dataset, and one with a 1 GiB (sparse) file that takes seconds to hash. */
  data: string;
  bigData: string;
  /** Trials of the two-runs-at-once fault. */
  trials: number;
  /** The swtpm's lock file (src/run/tpm-lock.ts), named by its AK. */
  lockPath: string;
  stop(): Promise<void>;
}

export async function makeFaultBench(options: { trials?: number } = {}): Promise<FaultBench> {
  const work = await mkdtemp(join(tmpdir(), 'aicert-faults-'));
  const home = join(work, 'home');
  const previousHome = process.env.AICERT_HOME;
  process.env.AICERT_HOME = home;
  const sim = await startSimulator();
  try {
    const ca = join(work, 'ca');
    await enrollWithNewCa(sim, ca);
    const code = join(work, 'code');
    await mkdir(code);
    await writeFile(join(code, 'train.js'), TRAIN);
    const data = join(work, 'train.jsonl');
    await writeFile(data, '{"x":1,"y":0}\n{"x":2,"y":1}\n');
    const bigData = join(work, 'big-data');
    await mkdir(bigData);
    await writeFile(join(bigData, 'train.jsonl'), '{"x":1,"y":0}\n');
    return {
      work,
      home,
      sim,
      anchors: await loadTrustAnchors(join(ca, 'ca.pem')),
      code,
      data,
      bigData,
      trials: options.trials ?? 2,
      lockPath: tpmLockPath(await akNameOf(sim)),
      async stop() {
        await rm(tpmLockPath(await akNameOf(sim)), { force: true }); // a killed run's lock, in the host-wide directory
        await sim.stop();
        if (previousHome === undefined) delete process.env.AICERT_HOME;
        else process.env.AICERT_HOME = previousHome;
        await rm(work, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await sim.stop();
    throw err;
  }
}

/** A file of `bytes` that holds no blocks: hashing it takes seconds, creating it none. */
function sparseFile(path: string, bytes: number): void {
  closeSync(openSync(path, 'w'));
  truncateSync(path, bytes);
}
const GIB = 2 ** 30;

// ------------------------------------------------------------------ running the CLI

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

interface RunningCli {
  child: ChildProcess;
  /** Resolves once stderr has matched `pattern`. */
  waitFor(pattern: RegExp): Promise<void>;
  exit: Promise<Exit>;
  certificate: string;
  output: string;
}

let runCounter = 0;

/** Starts `aicert run` on the bench's TPM; the command defaults to the toy trainer. */
function startRun(
  bench: FaultBench,
  o: { tpm?: string; data?: string; command?: (output: string) => string[]; out?: string; extra?: string[] } = {},
): RunningCli {
  const dir = join(bench.work, 'runs', String(runCounter++));
  const output = join(dir, 'model');
  const certificate = o.out ?? `${output}.aicert.json`;
  const data = o.data ?? bench.data;
  const command = o.command?.(output) ?? [process.execPath, '-e', TRAIN, data, output];
  const args = [
    CLI,
    'run',
    '--tpm',
    o.tpm ?? bench.sim.address,
    '--code',
    bench.code,
    '--data',
    data,
    '--output',
    output,
    '--out',
    certificate,
    ...(o.extra ?? []),
    '--',
    ...command,
  ];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, AICERT_HOME: bench.home },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const waiters: Array<{ pattern: RegExp; resolve: () => void }> = [];
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const w of waiters.filter((w) => w.pattern.test(stderr))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  // 'exit', not 'close': a training command orphaned by a killed aicert keeps the pipe open.
  const exit = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, stderr })));
  const waitFor = (pattern: RegExp) =>
    new Promise<void>((resolve, reject) => {
      if (pattern.test(stderr)) return resolve();
      waiters.push({ pattern, resolve });
      void exit.then((e) =>
        reject(new Error(`aicert exited (${e.code ?? e.signal}) before printing ${pattern}: ${e.stderr}`)),
      );
    });
  return { child, waitFor, exit, certificate, output };
}

/** A training command that records its pid, writes `marker`, then waits `ms` before training. */
function slowTrainer(bench: FaultBench, pidFile: string, ms: number): (output: string) => string[] {
  const script = `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setTimeout(() => { ${TRAIN} }, ${ms});`;
  return (output) => [process.execPath, '-e', script, bench.data, output];
}

async function waitForFile(path: string, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path) || (await readFile(path, 'utf8')) === '') {
    if (Date.now() > deadline) throw new Error(`${path} did not appear within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return readFile(path, 'utf8');
}

/** Waits until process `pid` (any of its threads) has `path` open: it is being hashed, so it was listed. */
async function waitUntilOpen(pid: number, path: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const opened = () => {
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`) === path;
        } catch {
          return false; // closed meanwhile
        }
      });
    } catch {
      return false;
    }
  };
  while (!opened()) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not open ${path} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** No certificate and no temp file of one in the certificate's directory. */
function assertNoCertificate(run: RunningCli): void {
  assert.equal(existsSync(run.certificate), false, `a certificate was written: ${run.certificate}`);
  const dir = dirname(run.certificate);
  const leftovers = existsSync(dir)
    ? readdirSync(dir).filter((n) => n.includes(basename(run.certificate)) || n.endsWith('.tmp'))
    : [];
  assert.deepEqual(leftovers, [], `files left beside the certificate: ${leftovers.join(', ')}`);
}

async function assertVerifies(bench: FaultBench, certificate: string): Promise<void> {
  const { report } = await verifyCertificate(await readFile(certificate), certificate, {
    trust: bench.anchors,
    allowUntrustedAk: false,
  });
  assert.equal(report.verdict, 'verified', JSON.stringify(report.checks.find((c) => c.status === 'failed')));
}

/** The next run on the TPM succeeds and verifies (a stale lock is taken over, no PCR state is in the way). */
async function assertNextRunWorks(bench: FaultBench): Promise<void> {
  const run = startRun(bench);
  const exit = await run.exit;
  assert.equal(exit.code, 0, `the next run failed: ${exit.stderr}`);
  await assertVerifies(bench, run.certificate);
}

function lockPath(bench: FaultBench): string {
  return bench.lockPath;
}

async function akNameOf(sim: Simulator): Promise<Buffer> {
  const tpm = await Tpm.open(sim.address);
  try {
    const ak = await createAk(tpm);
    await tpm.flushContext(ak.handle);
    return objectName(ak.public);
  } finally {
    await tpm.close();
  }
}

/**
 * Kills aicert with SIGKILL once it prints `phase` (and `ready` resolves), then checks the
 * aftermath; a training command left orphaned (its pid in `orphanPidFile`) is killed too.
 */
async function killAicertDuring(
  bench: FaultBench,
  phase: RegExp,
  o: Parameters<typeof startRun>[1],
  ready?: () => Promise<unknown>,
  orphanPidFile?: string,
): Promise<string> {
  const run = startRun(bench, o);
  await run.waitFor(phase);
  await ready?.();
  run.child.kill('SIGKILL');
  const exit = await run.exit;
  if (orphanPidFile && existsSync(orphanPidFile)) killQuietly(Number(await readFile(orphanPidFile, 'utf8')));
  assert.equal(exit.signal, 'SIGKILL');
  assertNoCertificate(run);
  const stale = existsSync(lockPath(bench)) ? (await readFile(lockPath(bench), 'utf8')).trim() : '';
  assert.equal(
    stale,
    String(run.child.pid),
    'the killed run should have left its lock behind (the stale lock the next run takes over)',
  );
  await assertNextRunWorks(bench);
  return `killed after "${phase.source}"; its stale lock (pid ${stale}) was taken over by the next run, which verified`;
}

// ------------------------------------------------------------------ the faults

export interface Fault {
  name: string;
  /** Injects the fault and asserts the aftermath; returns a note, or throws. A `SkipFault` skips. */
  inject(bench: FaultBench): Promise<string | undefined>;
}

/** Thrown when the environment cannot host a fault (e.g. mount is not permitted). */
export class SkipFault extends Error {}

export const FAULTS: Fault[] = [
  {
    name: 'the training command is killed with SIGKILL mid-run: no certificate (and a --certify-failure one never verifies)',
    async inject(bench) {
      for (const certifyFailure of [false, true]) {
        const pidFile = join(bench.work, `trainer-${runCounter}.pid`);
        const run = startRun(bench, {
          command: slowTrainer(bench, pidFile, 30_000),
          extra: certifyFailure ? ['--certify-failure'] : [],
        });
        killQuietly(Number(await waitForFile(pidFile)));
        const exit = await run.exit;
        assert.equal(exit.code, 1, exit.stderr);
        assert.match(exit.stderr, /killed by SIGKILL/);
        if (!certifyFailure) {
          assertNoCertificate(run);
          continue;
        }
        const { report } = await verifyCertificate(await readFile(run.certificate), run.certificate, {
          trust: bench.anchors,
          allowUntrustedAk: false,
        });
        assert.equal(report.checks.find((c) => c.status === 'failed')?.id, 'run.exit');
      }
      await assertNextRunWorks(bench);
      return 'exit 1, no certificate; with --certify-failure the certificate fails run.exit';
    },
  },
  {
    name: 'aicert is killed (SIGKILL) while measuring the inputs',
    async inject(bench) {
      sparseFile(join(bench.bigData, 'big.bin'), GIB);
      return killAicertDuring(bench, /measuring dataset/, { data: bench.bigData });
    },
  },
  {
    name: 'aicert is killed (SIGKILL) while the training command runs',
    async inject(bench) {
      const pidFile = join(bench.work, `trainer-${runCounter}.pid`);
      // The kill lands once the command runs: its pid file exists.
      return killAicertDuring(
        bench,
        /running: /,
        { command: slowTrainer(bench, pidFile, 30_000) },
        () => waitForFile(pidFile),
        pidFile,
      );
    },
  },
  {
    name: 'aicert is killed (SIGKILL) while measuring the outputs',
    async inject(bench) {
      const command = (output: string) => [
        process.execPath,
        '-e',
        `const fs=require('fs');fs.mkdirSync(process.argv[1],{recursive:true});const p=process.argv[1]+'/weights.bin';fs.writeFileSync(p,'');fs.truncateSync(p,${GIB});`,
        output,
      ];
      return killAicertDuring(bench, /measuring the outputs/, { command });
    },
  },
  {
    name: 'swtpm is killed mid-run: a clear error naming the TPM, exit 3, nothing written',
    async inject(bench) {
      const doomed = await startSimulator();
      try {
        const pidFile = join(bench.work, `trainer-${runCounter}.pid`);
        const run = startRun(bench, { tpm: doomed.address, command: slowTrainer(bench, pidFile, 1500) });
        await waitForFile(pidFile);
        process.kill(doomed.pid, 'SIGKILL');
        const exit = await run.exit;
        assert.equal(exit.code, 3, exit.stderr);
        const socket = doomed.address.replace(/^swtpm:(unix:)?/, '');
        assert.ok(exit.stderr.includes(socket), `the error does not name the TPM ${doomed.address}: ${exit.stderr}`);
        assertNoCertificate(run);
        return exit.stderr.trim().split('\n').at(-1);
      } finally {
        await doomed.stop();
      }
    },
  },
  {
    name: 'the disk fills while the certificate is written: the old certificate stays intact, no partial file remains',
    async inject(bench) {
      const dir = join(bench.work, 'full-disk');
      await mkdir(dir, { recursive: true });
      const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { encoding: 'utf8' });
      if (mounted.status !== 0)
        throw new SkipFault(
          `cannot mount a small tmpfs (${(mounted.stderr || mounted.error?.message || '').trim()}); run as root to inject a full disk`,
        );
      try {
        const certificate = join(dir, 'model.aicert.json');
        const first = startRun(bench);
        assert.equal((await first.exit).code, 0);
        const old = await readFile(first.certificate);
        await writeFile(certificate, old);
        const { bavail, bsize } = statfsSync(dir);
        await writeFile(join(dir, 'filler'), Buffer.alloc(Math.max(0, bavail * bsize - 4096)));
        const before = readdirSync(dir).sort();
        const run = startRun(bench, { out: certificate });
        const exit = await run.exit;
        assert.notEqual(exit.code, 0, 'the run claimed success on a full disk');
        assert.match(exit.stderr, /ENOSPC|no space/i);
        assert.doesNotMatch(exit.stderr, /internal error/, 'a full disk is reported as an internal error');
        assert.deepEqual(readdirSync(dir).sort(), before, 'a partial or temp file was left beside the certificate');
        assert.ok((await readFile(certificate)).equals(old), 'the old certificate changed');
        await assertVerifies(bench, certificate);
        return `exit ${exit.code}: ${exit.stderr.trim().split('\n').at(-1)}`;
      } finally {
        spawnSync('umount', [dir]);
      }
    },
  },
  {
    name: 'an input changes while it is hashed (appended to; overwritten in place): the run fails clearly, no certificate',
    async inject(bench) {
      const big = join(bench.bigData, 'big.bin');
      const notes: string[] = [];
      for (const change of [
        (path: string) => appendFile(path, 'x'),
        (path: string) => writeFile(path, 'y', { flag: 'r+' }),
      ]) {
        sparseFile(big, GIB);
        const run = startRun(bench, { data: bench.bigData });
        await waitUntilOpen(run.child.pid!, big);
        await change(big);
        const exit = await run.exit;
        assert.equal(exit.code, 2, exit.stderr);
        assert.match(exit.stderr, /changed while it was (being measured|read)/);
        assertNoCertificate(run);
        notes.push(exit.stderr.trim().split('\n').at(-1)!.replace(/.*\[/, '['));
      }
      await assertNextRunWorks(bench);
      return notes.join(', ');
    },
  },
  {
    name: 'an input is deleted while the dataset is hashed: the run fails clearly, no certificate',
    async inject(bench) {
      sparseFile(join(bench.bigData, 'big.bin'), GIB);
      const late = join(bench.bigData, 'z-late.jsonl');
      await writeFile(late, '{"x":9}\n');
      try {
        const run = startRun(bench, { data: bench.bigData });
        // Listed, and not yet read for its records (that comes after the 1 GiB file is hashed).
        await waitUntilOpen(run.child.pid!, join(bench.bigData, 'big.bin'));
        await unlink(late);
        const exit = await run.exit;
        assert.equal(exit.code, 2, exit.stderr);
        assert.match(exit.stderr, /disappeared|ENOENT|no such file/i);
        assertNoCertificate(run);
        return exit.stderr.trim().split('\n').at(-1)!.replace(/.*\[/, '[');
      } finally {
        await rm(late, { force: true });
      }
    },
  },
  {
    name: 'two runs start at once on one TPM (also over a stale lock): one is refused with run.tpm-busy (exit 3) or they serialize; never interleaved',
    async inject(bench) {
      const outcomes: string[] = [];
      for (let trial = 0; trial < bench.trials; trial++) {
        if (trial % 2 === 1) {
          const dead = spawnSync(process.execPath, ['-e', '']).pid!;
          await mkdir(dirname(lockPath(bench)), { recursive: true });
          await writeFile(lockPath(bench), `${dead}\n`);
        }
        const runs = [
          startRun(bench, { command: slowTrainer(bench, join(bench.work, `t${runCounter}.pid`), 500) }),
          startRun(bench, { command: slowTrainer(bench, join(bench.work, `t${runCounter + 1}.pid`), 500) }),
        ];
        const exits = await Promise.all(runs.map((r) => r.exit));
        const ok = runs.filter((_, i) => exits[i]!.code === 0);
        for (const [i, e] of exits.entries()) {
          if (e.code !== 0) {
            assert.equal(e.code, 3, e.stderr);
            assert.match(e.stderr, /\[run\.tpm-busy\]/);
            assertNoCertificate(runs[i]!);
          }
        }
        assert.ok(ok.length >= 1, `neither run succeeded: ${exits.map((e) => e.stderr).join(' | ')}`);
        for (const run of ok) await assertVerifies(bench, run.certificate);
        outcomes.push(ok.length === 2 ? 'serialized' : 'one refused');
      }
      return `${bench.trials} trials: ${outcomes.join(', ')}`;
    },
  },
];
