/**
 * `npm run bench -- serving [--requests N] [--concurrency C]`: the cost of `aicert serve` on
 * loopback. One swtpm, one certified toy run, one inference server (a child process); then N
 * requests at concurrency C directly to the upstream and through the attested endpoint with
 * `AttestedClient` (every receipt checked), in one run. Prints throughput, p50 latency, the
 * ratios, lost requests and the RSS of this process (serve runs in it) before and after.
 * Client and server share the machine's cores, so the ratio is a lower bound.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCa } from '../src/ca/ca-directory.js';
import { enrollAk, openCaEndpoint } from '../src/ca/enroll-client.js';
import { loadTrustAnchors } from '../src/evidence/ak-trust.js';
import { certifiedRun } from '../src/run/certified-run.js';
import { AttestedClient } from '../src/serve/client.js';
import { startServe } from '../src/serve/serve.js';
import { Tpm } from '../src/tpm/client.js';
import { startSimulator } from '../src/tpm/simulator.js';
import { median } from './bench-util.js';

const TRAIN =
  "const fs=require('fs');const o=process.argv[1];fs.mkdirSync(o,{recursive:true});fs.writeFileSync(o+'/w.bin','w');";
const UPSTREAM =
  "require('http').createServer((q,s)=>{const b=[];q.on('data',d=>b.push(d));q.on('end',()=>" +
  "{s.setHeader('content-type','application/json');s.end(JSON.stringify({n:Buffer.concat(b).length}))})})" +
  ".listen(Number(process.env.PORT),'127.0.0.1')";

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function load(
  n: number,
  c: number,
  one: () => Promise<void>,
): Promise<{ rps: number; p50: number; lost: number }> {
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
  return { rps: n / ((performance.now() - start) / 1000), p50: median(latencies), lost };
}

export async function run(args: string[]): Promise<void> {
  const flag = (name: string, fallback: number) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : fallback;
  };
  const n = flag('--requests', 2000);
  const c = flag('--concurrency', 32);
  const work = await mkdtemp(join(tmpdir(), 'aicert-bench-serving-'));
  process.env.AICERT_HOME = join(work, 'home');
  const sim = await startSimulator();
  try {
    await initCa(join(work, 'ca'), [sim.caRootFile], {
      ekIntermediatePemFiles: [join(sim.dir, 'ca', 'issuercert.pem')],
    });
    const tpm = await Tpm.open(sim.address);
    await enrollAk({ tpm, endpoint: await openCaEndpoint(join(work, 'ca')) }).finally(() => tpm.close());
    const trust = await loadTrustAnchors(join(work, 'ca', 'ca.pem'));
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
      command: [process.execPath, '-e', TRAIN, output],
      certifyFailure: false,
      log: () => undefined,
    });
    const upstream = `http://127.0.0.1:${await freePort()}`;
    const serving = await startServe({
      certificate: certificatePath!,
      model: output,
      tpm: sim.address,
      host: '127.0.0.1',
      port: 0,
      upstream,
      command: [process.execPath, '-e', UPSTREAM],
      verify: { trust, allowUntrustedAk: false },
      log: () => undefined,
    });
    const body = JSON.stringify({ pixels: Array.from({ length: 784 }, (_, i) => i % 256) });
    const agent = new Agent({ keepAlive: true, maxSockets: c });
    const direct = () =>
      new Promise<void>((resolve, reject) => {
        const req = request(`${upstream}/predict`, { method: 'POST', agent }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(String(res.statusCode)))));
        });
        req.on('error', reject);
        req.end(body);
      });
    const client = await AttestedClient.create({ certificate: certificatePath!, trust });
    let receipts = 0;
    const attested = async () => {
      const r = await client.fetch(`https://127.0.0.1:${serving.port}/predict`, { method: 'POST', body });
      if (r.status !== 200) throw new Error(String(r.status));
      if (r.receipt) receipts++; // fetch throws unless the receipt verified
    };
    await load(200, c, direct); // warm-up of both paths
    await load(200, c, attested);
    receipts = 0;
    const rssBefore = process.memoryUsage().rss;
    const d = await load(n, c, direct);
    const a = await load(n, c, attested);
    const rssAfter = process.memoryUsage().rss;
    const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
    console.log(`serving: ${n} requests at concurrency ${c}, loopback, client and serve in one process`);
    console.log(`  direct to upstream   ${d.rps.toFixed(0)} req/s  p50 ${d.p50.toFixed(2)} ms  lost ${d.lost}`);
    console.log(`  through aicert serve ${a.rps.toFixed(0)} req/s  p50 ${a.p50.toFixed(2)} ms  lost ${a.lost}`);
    console.log(`  throughput ratio ${(a.rps / d.rps).toFixed(2)}  added p50 ${(a.p50 - d.p50).toFixed(2)} ms`);
    console.log(`  receipts verified ${receipts}/${n}  RSS ${mb(rssBefore)} → ${mb(rssAfter)}`);
    client.close();
    agent.destroy();
    await serving.stop();
  } finally {
    await sim.stop();
    await rm(work, { recursive: true, force: true });
  }
}
