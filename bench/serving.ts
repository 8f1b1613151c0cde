/**
 * `npm run bench -- serving [--requests N] [--concurrency C] [--rounds R] [--warmup W]
 * [--upstream pytorch|fashion-mnist|echo] [--pin | --no-pin]`:
 * the cost of `aicert serve` on loopback. One swtpm, one certified run whose output has the
 * Fashion-MNIST example's weight shapes, `aicert serve` as its own process (the CLI, as deployed)
 * in front of an example inference server: by default the PyTorch one
 * (examples/pytorch-fashion-mnist/serve.py: Python's http.server and torch, what model servers
 * are usually made of) when /usr/bin/python3 has torch, else the plain-Node one
 * (examples/fashion-mnist/serve.js, a hand-written matrix product: far cheaper per request than
 * any framework's server). Then N requests at concurrency C directly to the upstream and N through
 * the attested endpoint with `AttestedClient` (every connection attested before use), in R
 * alternating rounds so that load drifts on the shared machine hit both sides. The load
 * generator shares the machine's cores with serve and the upstream, so both sides run the same
 * minimal loop (node:http(s) request on a kept-alive agent, body read whole, status checked) and
 * every receipt is verified after the timed rounds (`AttestedClient.send`, then `check()` on each
 * answer: all of them, not a sample). `--upstream echo` fronts a server that does no work: the
 * pure proxy overhead, a worst case no model server reaches.
 * Cores: `--pin` puts the load generator (this process, every thread) and the upstream on the first
 * CPU and `aicert serve` on the others, in both arms alike (the direct arm leaves serve's CPUs
 * unused): serve with a core of its own, as a sidecar or front proxy has on a real host.
 * `--no-pin` lets all three share every CPU. With neither flag and at least 2 CPUs, the bench
 * measures both layouts, interleaved round by round on the same warm processes.
 * Prints throughput, the ratio, p50/p99 latency and what serve adds to them, lost requests,
 * receipts verified, the RSS of the serve process after warm-up and at the end, and the CPU time
 * each process spent per request. AICERT_BENCH_PROF=DIR writes a CPU profile of serve there.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initCa } from '../src/ca/ca-directory.js';
import { enrollAk, openCaEndpoint } from '../src/ca/enroll-client.js';
import { loadTrustAnchors } from '../src/evidence/ak-trust.js';
import { certifiedRun } from '../src/run/certified-run.js';
import { AttestedClient, type UncheckedAnswer } from '../src/serve/client.js';
import { readBody } from '../src/serve/upstream-proxy.js';
import { Tpm } from '../src/tpm/client.js';
import { startSimulator } from '../src/tpm/simulator.js';
import { loadAverage } from './bench-util.js';
import { affinityOf, cpuListText, onCpus, pin, requireTaskset } from './cpu-pinning.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const CLI = join(ROOT, 'dist/src/cli/main.js');
const FASHION_SERVER = join(ROOT, 'examples/fashion-mnist/serve.js');
const PYTORCH_SERVER = join(ROOT, 'examples/pytorch-fashion-mnist/serve.py');
const PYTHON = '/usr/bin/python3';

/** The MLP's tensors as each example server names them (PyTorch keeps weights as [out, in]). */
const SHAPES = {
  node: { 'dense1.kernel': [784, 64], 'dense1.bias': [64], 'dense2.kernel': [64, 10], 'dense2.bias': [10] },
  pytorch: { 'fc1.weight': [64, 784], 'fc1.bias': [64], 'fc2.weight': [10, 64], 'fc2.bias': [10] },
};

/** Writes OUT/model.safetensors: the tensors SHAPES (JSON) names (784 → 64 → 10, F32), deterministic weights. */
const TRAIN = `
const fs = require('fs'); const out = process.argv[1]; fs.mkdirSync(out, { recursive: true });
const shapes = JSON.parse(process.argv[2]);
const header = {}; const parts = []; let offset = 0; let seed = 1;
for (const [name, shape] of Object.entries(shapes)) {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) { seed = (seed * 1103515245 + 12345) % 2147483648; values[i] = seed / 2147483648 - 0.5; }
  header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + values.byteLength] };
  parts.push(Buffer.from(values.buffer)); offset += values.byteLength;
}
let json = JSON.stringify(header); json += ' '.repeat((8 - (json.length % 8)) % 8);
const length = Buffer.alloc(8); length.writeBigUInt64LE(BigInt(json.length));
fs.writeFileSync(out + '/model.safetensors', Buffer.concat([length, Buffer.from(json), ...parts]));`;

const ECHO_SERVER =
  "require('http').createServer((q,s)=>{const b=[];q.on('data',d=>b.push(d));q.on('end',()=>" +
  "{s.setHeader('content-type','application/json');s.end(JSON.stringify({n:Buffer.concat(b).length}))})})" +
  ".listen(Number(process.env.PORT),'127.0.0.1')";

const UPSTREAM_NAMES: Record<string, string> = {
  pytorch: 'examples/pytorch-fashion-mnist/serve.py (PyTorch)',
  'fashion-mnist': 'examples/fashion-mnist/serve.js (plain Node)',
  echo: 'echo (no work)',
};

function hasTorch(): boolean {
  return spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Where the three processes run: each its own CPU set ('pinned') or all on every CPU ('shared'). */
type Layout = 'pinned' | 'shared';
const SIDES = ['direct', 'attested'] as const;
type Side = (typeof SIDES)[number];

interface Load {
  seconds: number;
  latencies: number[];
  lost: number;
}

/** `n` calls of `one`, `c` at a time; a call that throws is a lost request. */
async function load(n: number, c: number, one: () => Promise<void>): Promise<Load> {
  const latencies: number[] = [];
  let next = 0;
  let lost = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < n) {
        next++;
        const t = performance.now();
        try {
          await one();
          latencies.push(performance.now() - t);
        } catch {
          lost++;
        }
      }
    }),
  );
  return { seconds: (performance.now() - start) / 1000, latencies, lost };
}

function merge(runs: Load[]): { rps: number; p50: number; p99: number; lost: number; n: number } {
  const latencies = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  const n = latencies.length + runs.reduce((s, r) => s + r.lost, 0);
  const seconds = runs.reduce((s, r) => s + r.seconds, 0);
  return { rps: n / seconds, p50: at(0.5), p99: at(0.99), lost: runs.reduce((s, r) => s + r.lost, 0), n };
}

/** CPU seconds [user, system] a process used so far (threads included). */
function cpuOf(pid: number): [number, number] {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return [Number(fields[11]) / 100, Number(fields[12]) / 100]; // utime, stime in clock ticks (USER_HZ 100)
}

function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text ? text.split(' ').map(Number) : [];
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

/**
 * Starts `aicert serve` (on `cpus` if given) and resolves with its process and URL once it printed
 * where it listens.
 */
function startServeProcess(
  args: string[],
  env: NodeJS.ProcessEnv,
  cpus?: number[],
): Promise<{ child: ChildProcess; url: string }> {
  const node = [
    process.execPath,
    ...(process.env.AICERT_BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.AICERT_BENCH_PROF] : []),
    CLI,
    'serve',
    ...args,
  ];
  const [file, ...argv] = cpus ? onCpus(cpus, node) : node;
  const child = spawn(file!, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolvePromise, reject) => {
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /^(https:\/\/\S+) session/m.exec(stdout);
      if (m) resolvePromise({ child, url: m[1]! });
    });
    child.once('exit', (code) => reject(new Error(`aicert serve exited (${code}) before listening:\n${stderr}`)));
  });
}

/** Prints one layout's figures: both sides' throughput and latency, and each process's CPU per request. */
function report(runs: Record<Side, Load[]>, cpu: Record<Side, number[][]>): void {
  const d = merge(runs.direct);
  const a = merge(runs.attested);
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  console.log(`    direct to upstream   ${d.rps.toFixed(0)} req/s  p50 ${ms(d.p50)}  p99 ${ms(d.p99)}  lost ${d.lost}`);
  console.log(`    through aicert serve ${a.rps.toFixed(0)} req/s  p50 ${ms(a.p50)}  p99 ${ms(a.p99)}  lost ${a.lost}`);
  console.log(
    `    throughput ratio ${(a.rps / d.rps).toFixed(2)}  added p50 ${ms(a.p50 - d.p50)}  ` +
      `added p99 ${ms(a.p99 - d.p99)}`,
  );
  const us = (side: number[][], count: number) => {
    const each = side.map(([user, sys]) => [(user! / count) * 1e6, (sys! / count) * 1e6] as const);
    const total = each.reduce((t, [user, sys]) => t + user + sys, 0);
    const named = each.map(
      ([user, sys], i) =>
        `${['client', 'serve', 'upstream'][i]} ${(user + sys).toFixed(0)} (${user.toFixed(0)}+${sys.toFixed(0)})`,
    );
    return `${named.join(', ')} = ${total.toFixed(0)}`;
  };
  console.log('    CPU µs per request (user+system, from /proc, 10 ms ticks):');
  console.log(`      direct:   ${us(cpu.direct, d.n)}`);
  console.log(`      attested: ${us(cpu.attested, a.n)}`);
}

export async function run(args: string[]): Promise<void> {
  const flag = (name: string, fallback: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1]! : fallback;
  };
  if (args.includes('--help')) {
    process.stdout.write(
      'npm run bench -- serving [--requests 2000] [--concurrency 32] [--rounds 4] [--warmup 1000]\n' +
        '  [--upstream pytorch|fashion-mnist|echo] [--pin | --no-pin]\n' +
        '  --pin: client and upstream on the first CPU, aicert serve on the others, both arms alike\n' +
        '  --no-pin: all three share every CPU; default on 2+ CPUs: both layouts, interleaved\n',
    );
    return;
  }
  const n = Number(flag('--requests', '2000'));
  const c = Number(flag('--concurrency', '32'));
  const rounds = Number(flag('--rounds', '4'));
  const warmup = Number(flag('--warmup', '1000'));
  const upstreamKind = flag('--upstream', hasTorch() ? 'pytorch' : 'fashion-mnist');
  if (!['pytorch', 'fashion-mnist', 'echo'].includes(upstreamKind)) throw new Error(`--upstream ${upstreamKind}?`);
  if (upstreamKind === 'pytorch' && !hasTorch()) throw new Error(`--upstream pytorch: ${PYTHON} cannot import torch`);
  if (args.includes('--pin') && args.includes('--no-pin')) throw new Error('--pin and --no-pin: choose one');
  const wantsPinning = !args.includes('--no-pin') && (args.includes('--pin') || availableParallelism() >= 2);
  if (wantsPinning) requireTaskset('--no-pin');
  // The CPUs this process may use (a cpuset or an outer taskset may have narrowed them), read before pinning.
  const cpus = wantsPinning ? affinityOf(process.pid) : [];
  if (wantsPinning && cpus.length < 2) throw new Error(`--pin needs 2 CPUs, this process may use ${cpus.join(',')}`);
  const layouts: Layout[] = args.includes('--pin') ? ['pinned'] : wantsPinning ? ['pinned', 'shared'] : ['shared'];
  const clientCpus = cpus.slice(0, 1);
  const serveCpus = cpus.slice(1);
  const shapes = JSON.stringify(upstreamKind === 'pytorch' ? SHAPES.pytorch : SHAPES.node);
  const work = await mkdtemp(join(tmpdir(), 'aicert-bench-serving-'));
  const env = { ...process.env, AICERT_HOME: join(work, 'home') };
  process.env.AICERT_HOME = env.AICERT_HOME;
  const sim = await startSimulator();
  let serve: ChildProcess | undefined;
  try {
    await initCa(join(work, 'ca'), [sim.caRootFile], {
      ekIntermediatePemFiles: [join(sim.dir, 'ca', 'issuercert.pem')],
    });
    const tpm = await Tpm.open(sim.address);
    await enrollAk({ tpm, endpoint: await openCaEndpoint(join(work, 'ca')) }).finally(() => tpm.close());
    const trustFile = join(work, 'ca', 'ca.pem');
    const trust = await loadTrustAnchors(trustFile);
    const code = join(work, 'code');
    await mkdir(code);
    await writeFile(join(code, 'train.js'), TRAIN);
    const output = join(work, 'model');
    const { certificatePath } = await certifiedRun({
      code,
      data: [join(code, 'train.js')],
      output,
      certificatePath: `${output}.aicert.json`,
      tpm: sim.address,
      command: [process.execPath, '-e', TRAIN, output, shapes],
      certifyFailure: false,
      log: () => undefined,
    });
    const upstreamPort = await freePort();
    const upstream = `http://127.0.0.1:${upstreamPort}`;
    const upstreamCommand =
      upstreamKind === 'echo'
        ? [process.execPath, '-e', ECHO_SERVER]
        : upstreamKind === 'pytorch'
          ? [PYTHON, PYTORCH_SERVER, output, String(upstreamPort)]
          : [process.execPath, FASHION_SERVER, output, String(upstreamPort)];
    // Pinned from their first instruction (taskset execs, so the pids stay those of node and the server).
    const pinnedFirst = layouts[0] === 'pinned';
    const command = pinnedFirst ? onCpus(clientCpus, upstreamCommand) : upstreamCommand;
    const started = await startServeProcess(
      [
        ...['--certificate', certificatePath!, '--model', output, '--tpm', sim.address, '--trust', trustFile],
        ...['--listen', '127.0.0.1:0', '--upstream', upstream, '--', ...command],
      ],
      env,
      pinnedFirst ? serveCpus : undefined,
    );
    serve = started.child;
    const upstreamPid = childrenOf(serve.pid!)[0]!;
    const body = Buffer.from(JSON.stringify({ pixels: Array.from({ length: 784 }, (_, i) => i % 256) }));
    const agent = new Agent({ keepAlive: true, maxSockets: c });
    // The same loop on both sides: request on a kept-alive agent, body read whole, status checked.
    const direct = () =>
      new Promise<void>((resolveOne, reject) => {
        const req = request(`${upstream}/predict`, { method: 'POST', agent }, (res) => {
          readBody(res).then(
            () => (res.statusCode === 200 ? resolveOne() : reject(new Error(String(res.statusCode)))),
            reject,
          );
        });
        req.on('error', reject);
        req.end(body);
      });
    const client = await AttestedClient.create({ certificate: certificatePath!, trust });
    const answers: UncheckedAnswer[] = [];
    const attested = async () => {
      // On a connection attested before its first use; the receipt is checked after the timed rounds.
      const answer = await client.send(`${started.url}/predict`, { method: 'POST', body });
      if (answer.status !== 200) throw new Error(String(answer.status));
      answers.push(answer);
    };
    const one: Record<Side, () => Promise<void>> = { direct, attested };
    // [client (this process, every thread), serve, upstream] and the CPUs each gets in a layout.
    const pids = [process.pid, serve.pid!, upstreamPid];
    const placement: Record<Layout, number[][]> = {
      pinned: [clientCpus, serveCpus, clientCpus],
      shared: [cpus, cpus, cpus],
    };
    let current: Layout | undefined;
    const place = (layout: Layout) => {
      if (layout === current || !wantsPinning) return;
      for (const [i, pid] of pids.entries()) pin(pid, placement[layout][i]!);
      current = layout;
    };
    place(layouts[0]!);
    // Warm-up, the same on both sides: the JIT of every process (with 200 requests a side, TurboFan
    // still compiled serve's HTTP path in the timed rounds), and the attestation of all c connections.
    await load(warmup, c, direct);
    await load(warmup, c, attested);
    for (const answer of answers.splice(0)) answer.check();
    const rssStart = rssOf(serve.pid!);
    const per = Math.ceil(n / rounds);
    const runs = Object.fromEntries(
      layouts.map((l) => [l, { direct: [] as Load[], attested: [] as Load[] }]),
    ) as Record<Layout, Record<Side, Load[]>>;
    // CPU seconds [user, system] of each process, per layout and side.
    const cpu = Object.fromEntries(
      layouts.map((l) => [l, { direct: pids.map(() => [0, 0]), attested: pids.map(() => [0, 0]) }]),
    ) as Record<Layout, Record<Side, number[][]>>;
    // Rounds alternate sides and, within a round, layouts, so that load drifts hit all of them.
    for (let r = 0; r < rounds; r++) {
      for (const layout of layouts) {
        place(layout);
        for (const side of SIDES) {
          const before = pids.map(cpuOf);
          runs[layout][side].push(await load(per, c, one[side]));
          const after = pids.map(cpuOf);
          for (const [i, spent] of cpu[layout][side].entries()) {
            spent[0]! += after[i]![0] - before[i]![0];
            spent[1]! += after[i]![1] - before[i]![1];
          }
        }
      }
    }
    const rssEnd = rssOf(serve.pid!);
    // Every receipt of the timed rounds, verified as attestedFetch does (signature, exchange, sequence number).
    const checkStart = process.cpuUsage();
    let receipts = 0;
    for (const answer of answers) {
      try {
        answer.check();
        receipts++;
      } catch (err) {
        console.error(`receipt not valid: ${(err as Error).message}`);
      }
    }
    const checkCpu = process.cpuUsage(checkStart);
    const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
    console.log(
      `serving: ${per * rounds} + ${per * rounds} requests at concurrency ${c} in ${rounds} alternating rounds` +
        `${layouts.length > 1 ? ' per layout (layouts interleaved)' : ''}, loopback, after ${warmup} warm-up ` +
        `requests a side, upstream ${UPSTREAM_NAMES[upstreamKind]}; load ${loadAverage()}`,
    );
    for (const layout of layouts) {
      console.log(
        layout === 'pinned'
          ? `  pinned: client (bench, all threads) + upstream on CPU ${cpuListText(clientCpus)}, aicert serve on ` +
              `CPU ${cpuListText(serveCpus)} (direct arm: CPU ${cpuListText(serveCpus)} unused by the path)`
          : `  shared: client, aicert serve and upstream all on ` +
              `${wantsPinning ? `CPU ${cpuListText(cpus)}` : 'every CPU'}`,
      );
      report(runs[layout], cpu[layout]);
    }
    console.log(
      `  receipts verified ${receipts}/${answers.length} after the timed rounds ` +
        `(${((checkCpu.user + checkCpu.system) / Math.max(1, answers.length)).toFixed(0)} µs client CPU each, ` +
        `not counted above)  serve RSS ${mb(rssStart)} → ${mb(rssEnd)}`,
    );
    client.close();
    agent.destroy();
  } finally {
    if (serve && serve.exitCode === null) {
      const exited = new Promise((r) => serve!.once('exit', r));
      serve.kill('SIGTERM');
      await exited;
    }
    await sim.stop();
    await rm(work, { recursive: true, force: true });
  }
}
