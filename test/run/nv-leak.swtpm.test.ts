import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startSimulator, type Simulator } from '../../src/tpm/simulator.js';
import { Tpm } from '../../src/tpm/client.js';
import { certifiedRun } from '../../src/run/certified-run.js';
import { reclaimLeakedNvIndices, type NvIndexRecord } from '../../src/run/nv-index-records.js';

/**
 * An `aicert run` killed with SIGKILL cannot remove its NV extend index. Runs record their
 * index (with their pid) in the state directory before defining it, and the next run on that
 * TPM undefines the indices of dead runs: only those, and only when the index at the handle is
 * still the one recorded. tpm2-tools is the oracle for what is defined.
 */
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const hex = (n: number) => `0x${n.toString(16)}`;
/** Writes the model once the file `go` exists: the run stays in its command until the test lets it go. */
const WAIT_THEN_TRAIN = `const fs=require('fs');const [o,go]=process.argv.slice(1);const t=setInterval(()=>{if(!fs.existsSync(go))return;clearInterval(t);fs.mkdirSync(o,{recursive:true});fs.writeFileSync(o+'/w.bin','w')},20)`;

describe('NV indices of killed runs are reclaimed; those of live runs and of others are not', () => {
  let work: string;
  let home: string;
  let sim: Simulator;
  let code: string;
  let data: string;

  const tcti = () => `swtpm:path=${sim.address.slice('swtpm:unix:'.length)}`;
  const defined = (index: number) =>
    spawnSync('tpm2_nvreadpublic', ['-T', tcti(), hex(index)], { encoding: 'utf8' }).status === 0;
  const records = async (): Promise<Array<NvIndexRecord & { file: string }>> => {
    const dir = join(home, 'nv-indices');
    if (!existsSync(dir)) return [];
    const files = (await readdir(dir)).filter((f) => f.endsWith('.json') && !f.startsWith('.'));
    return Promise.all(
      files.map(async (file) => ({ file, ...(JSON.parse(await readFile(join(dir, file), 'utf8')) as NvIndexRecord) })),
    );
  };
  /** `aicert run` in a child process whose command waits for `go`; resolves once its index is defined. */
  const startRun = async (name: string) => {
    const output = join(work, name, 'model');
    const go = join(work, name, 'go');
    await mkdir(join(work, name), { recursive: true });
    const child = spawn(
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
        output,
        '--',
        process.execPath,
      ].concat(['-e', WAIT_THEN_TRAIN, output, go]),
      { env: { ...process.env, AICERT_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    child.stdout!.resume();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Polled until the run reports its command started (no assertion on how long that takes).
    for (;;) {
      const index = /measuring into a fresh NV extend index (0x[0-9a-f]+)/.exec(stderr)?.[1];
      if (index && stderr.includes('running: ')) {
        return { child, index: Number(index), go, exited, stderr: () => stderr };
      }
      if (child.exitCode !== null) throw new Error(`the run exited early: ${stderr}`);
      await sleep(50);
    }
  };
  const killGroup = (child: ChildProcess) => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'aicert-nv-leak-'));
    home = join(work, 'home');
    process.env.AICERT_HOME = home;
    sim = await startSimulator({ transport: 'unix' });
    code = join(work, 'code');
    await mkdir(code);
    await writeFile(join(code, 'train.js'), WAIT_THEN_TRAIN);
    data = join(work, 'train.jsonl');
    await writeFile(data, '{"x":1}\n');
  });
  after(async () => {
    await sim?.stop();
    await rm(work, { recursive: true, force: true });
  });

  test('a run killed with SIGKILL leaves its index defined; the next run reclaims it and removes the record', async () => {
    const killed = await startRun('killed');
    assert.ok(defined(killed.index), 'the running run has defined its index');
    const [record] = await records();
    assert.equal(record?.index, killed.index);
    assert.equal(record?.pid, killed.child.pid);
    process.kill(killed.child.pid!, 'SIGKILL');
    await killed.exited;
    killGroup(killed.child); // its command, still waiting
    assert.ok(defined(killed.index), 'SIGKILL leaves the index defined');

    const logs: string[] = [];
    const output = join(work, 'next', 'model');
    await mkdir(join(work, 'next'), { recursive: true });
    await writeFile(join(work, 'next', 'go'), '');
    const { outcome } = await certifiedRun({
      code,
      data: [data],
      output,
      certificatePath: `${output}.aicert.json`,
      tpm: sim.address,
      command: [process.execPath, '-e', WAIT_THEN_TRAIN, output, join(work, 'next', 'go')],
      certifyFailure: false,
      log: (line) => logs.push(line),
    });
    assert.equal(outcome.exitCode, 0);
    assert.ok(
      logs.includes(`reclaimed NV index ${hex(killed.index)}, left defined by the killed run ${killed.child.pid}`),
      logs.join('\n'),
    );
    assert.equal(defined(killed.index), false, 'tpm2_nvreadpublic no longer finds the killed run’s index');
    assert.deepEqual(await records(), [], 'no record left: the reclaimed one and the finished run’s are removed');
  });

  test("a live run's index is not touched, nor an index aicert did not define, even when a record names it", async () => {
    const live = await startRun('live');
    try {
      const [record] = await records();
      assert.equal(record?.pid, live.child.pid);
      // An index someone else defined, and a record (of a dead pid) that names its handle but not its Name.
      const foreign = 0x01000042;
      assert.equal(
        spawnSync('tpm2_nvdefine', ['-T', tcti(), '-C', 'o', '-s', '8', hex(foreign)]).status,
        0,
        'tpm2_nvdefine',
      );
      const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
        encoding: 'utf8',
      });
      const forged: NvIndexRecord = { ...record!, pid: Number(dead.stdout), started: null, index: foreign };
      await writeFile(join(home, 'nv-indices', 'run-1-forged.json'), JSON.stringify(forged));

      const tpm = await Tpm.open(sim.address);
      let reclaimed: Awaited<ReturnType<typeof reclaimLeakedNvIndices>>;
      try {
        reclaimed = await reclaimLeakedNvIndices(tpm, Buffer.from(record!.tpm, 'hex'), join(home, 'nv-indices'));
      } finally {
        await tpm.close();
      }
      assert.deepEqual(reclaimed, []);
      assert.ok(defined(live.index), "the live run's index is still defined");
      assert.ok(defined(foreign), 'the foreign index is still defined');
      assert.deepEqual(
        (await records()).map((r) => r.pid),
        [live.child.pid],
        "the forged record is dropped (its handle holds another index); the live run's is kept",
      );

      await writeFile(live.go, '');
      assert.equal(await live.exited, 0, live.stderr());
      assert.equal(defined(live.index), false, 'a run that ends removes its own index');
      assert.deepEqual(await records(), []);
      spawnSync('tpm2_nvundefine', ['-T', tcti(), '-C', 'o', hex(foreign)]);
    } finally {
      killGroup(live.child);
    }
  });
});
