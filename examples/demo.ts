/**
 * The aicert demo (`npm run demo`): a throw-away software TPM and attestation CA, an enrolled
 * attestation key, a certified training run of the Fashion-MNIST example, its verification,
 * the same verification failing after one byte of the weights is flipped, and finally the
 * certified model served by `aicert serve` (attested TLS in front of examples/fashion-mnist/serve.js)
 * with one attested request (`aicert attest`, then `attestedFetch` of `aicert/client`). Every step
 * is the real CLI, printed before it runs, so the demo doubles as a walkthrough.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attestedFetch } from '../src/serve/client.js';
import { CLASS_NAMES } from './fashion-mnist/records.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const CLI = join(ROOT, 'dist/src/cli/main.js');
const TRAINER_SOURCE = join(ROOT, 'examples/fashion-mnist');
const TRAINER = join(ROOT, 'dist/examples/fashion-mnist/train.js');
const DATA = join(ROOT, 'examples/fashion-mnist/data');
const INFERENCE_SERVER = join(ROOT, 'examples/fashion-mnist/serve.js');
/** How long `aicert serve` may take to verify, open its session and start the inference server. */
const SERVE_START_MS = 60_000;

/** A step's command did not end as expected: the demo stops, after its cleanup ran. */
class DemoStopped extends Error {}

/**
 * What must be undone if the demo is interrupted (Ctrl-C, SIGTERM), newest first: the serving
 * process, then the software TPM. The normal and failing paths undo the same in `finally` blocks.
 */
const undoOnInterrupt: (() => Promise<void> | void)[] = [];
function forget(undo: () => Promise<void> | void): void {
  const i = undoOnInterrupt.indexOf(undo);
  if (i >= 0) undoOnInterrupt.splice(i, 1);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    process.stderr.write(`\ndemo: ${signal}; stopping what it started\n`);
    void (async () => {
      // A copy: the demo's own `finally` blocks may run meanwhile and take their entries off the list.
      for (const undo of [...undoOnInterrupt].reverse()) await undo();
      process.exit(130);
    })();
  });

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

function step(title: string): void {
  process.stdout.write(`\n${bold(`== ${title}`)}\n`);
}

/** Runs `aicert ARGS…` visibly; returns its status and stdout. */
function aicert(args: string[], env: NodeJS.ProcessEnv, expectStatus = 0): { status: number; stdout: string } {
  process.stdout.write(`$ aicert ${args.map((a) => (/[\s'"]/.test(a) ? JSON.stringify(a) : a)).join(' ')}\n`);
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.stdout.write(r.stdout);
  if (r.status !== expectStatus)
    throw new DemoStopped(`aicert ${args[0]}: expected exit status ${expectStatus}, got ${r.status}`);
  return { status: r.status ?? -1, stdout: r.stdout };
}

async function main(): Promise<void> {
  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'aicert-demo-'));
  const env: NodeJS.ProcessEnv = { ...process.env, AICERT_HOME: join(dir, 'home') };
  const sim = join(dir, 'swtpm');
  const ca = join(dir, 'ca');
  const model = join(dir, 'model');
  const cert = `${model}.aicert.json`;
  process.stdout.write(`aicert demo: all files go to ${dir}\n`);

  step('1. Start a software TPM (swtpm) with an EK certificate from its own local CA');
  const started_ = aicert(['tpm', 'simulator', 'start', '--dir', sim], env);
  env.AICERT_TPM = /AICERT_TPM='([^']+)'/.exec(started_.stdout)![1]!;
  const stopTpm = () => void spawnSync(process.execPath, [CLI, 'tpm', 'simulator', 'stop', '--dir', sim], { env });
  undoOnInterrupt.push(stopTpm);
  try {
    aicert(['tpm', 'info'], env);

    step("2. Create an attestation CA that trusts this EK root, and enroll the TPM's attestation key");
    process.stdout.write('   (a software TPM proves the plumbing, not the hardware: only this demo trusts its CA)\n');
    aicert(
      [
        'ca',
        'init',
        ca,
        '--ek-roots',
        join(sim, 'ca/swtpm-localca-rootca-cert.pem'),
        '--ek-intermediates',
        join(sim, 'ca/issuercert.pem'),
      ],
      env,
    );
    aicert(['ak', 'enroll', '--ca', ca], env);

    step(
      '3. Train the Fashion-MNIST classifier under aicert: inputs measured and quoted, then the run, then the outputs',
    );
    aicert(
      [
        'run',
        '--code',
        TRAINER_SOURCE,
        '--data',
        DATA,
        '--output',
        model,
        '--',
        process.execPath,
        TRAINER,
        '--data',
        DATA,
        '--out',
        model,
      ],
      env,
    );

    step('4. Inspect and verify the certificate (trusting the demo CA explicitly)');
    aicert(['inspect', cert], env);
    aicert(['verify', cert, '--trust', join(ca, 'ca.pem'), '--model', model, '--data', DATA], env);

    step('5. Flip one byte of the weights and verify again: it must fail, and say why');
    const tampered = join(dir, 'model-tampered');
    await cp(model, tampered, { recursive: true });
    const weights = join(tampered, 'model.safetensors');
    const bytes = await readFile(weights);
    bytes[bytes.length - 1]! ^= 0x01;
    await writeFile(weights, bytes);
    aicert(['verify', cert, '--trust', join(ca, 'ca.pem'), '--model', tampered], env, 1);

    step('6. Serve the certified model: aicert serve terminates attested TLS in front of the inference server');
    await serveAndAsk({ env, cert, model, trust: join(ca, 'ca.pem'), saved: join(dir, 'attestation.json') });
  } finally {
    forget(stopTpm);
    step('7. Stop the software TPM');
    aicert(['tpm', 'simulator', 'stop', '--dir', sim], env);
  }
  process.stdout.write(
    `\n${bold('Done')} in ${((Date.now() - started) / 1000).toFixed(1)} s. Files are in ${dir}:\n` +
      `  model/                      the trained model (model.safetensors, metrics.json)\n` +
      `  model.aicert.json           its certificate\n` +
      `  ca/ca.pem                   the demo attestation CA (trust it with --trust)\n` +
      `  home/ak/                    the enrolled AK certificate\n` +
      `  model-tampered/             the copy with one flipped byte\n` +
      `  attestation.json            the serving session's attestation (for aicert receipt verify)\n` +
      `  receipt.json, answer.json   the attested answer and its receipt\n` +
      `Verify again with:\n  node ${CLI} verify ${cert} --trust ${join(ca, 'ca.pem')} --model ${model}\n`,
  );
}

/**
 * Starts `aicert serve` in front of examples/fashion-mnist/serve.js, checks the endpoint with
 * `aicert attest`, sends one test image with `attestedFetch` and checks the receipt again offline
 * with `aicert receipt verify`. The server is stopped on every path, before the TPM is.
 */
async function serveAndAsk(o: {
  env: NodeJS.ProcessEnv;
  cert: string;
  model: string;
  trust: string;
  saved: string;
}): Promise<void> {
  const upstreamPort = await freePort();
  const args = [
    ...['serve', '--certificate', o.cert, '--model', o.model, '--trust', o.trust, '--listen', '127.0.0.1:0'],
    ...['--upstream', `http://127.0.0.1:${upstreamPort}`, '--', process.execPath, INFERENCE_SERVER, o.model],
  ];
  process.stdout.write(`$ aicert ${args.join(' ')} &\n`);
  const server = spawn(process.execPath, [CLI, ...args], { env: o.env, stdio: ['ignore', 'pipe', 'inherit'] });
  const stopServer = () => stopProcess(server);
  undoOnInterrupt.push(stopServer);
  try {
    const url = await listeningUrl(server);
    process.stdout.write(`   serving on ${url}\n`);
    aicert(['attest', url, '--certificate', o.cert, '--trust', o.trust, '--save', o.saved], o.env);

    const [first] = (await readFile(join(DATA, 'test.jsonl'), 'utf8')).split('\n', 1);
    const image = JSON.parse(first!) as { label: number; pixels: string };
    const pixels = [...Buffer.from(image.pixels, 'base64')];
    process.stdout.write(
      `$ attestedFetch('${url}/predict', { method: 'POST', body: <first test image> }, { certificate, trust })\n`,
    );
    const response = await attestedFetch(
      `${url}/predict`,
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pixels }) },
      { certificate: o.cert, trust: o.trust },
    );
    const answer = Buffer.from(await response.arrayBuffer());
    const prediction = JSON.parse(answer.toString('utf8')) as { class: number; label: string };
    process.stdout.write(
      `   prediction: ${prediction.label} (class ${prediction.class}); the image is a ${CLASS_NAMES[image.label]}\n` +
        `   receipt ${response.receipt.seq} of session ${response.receipt.sessionId} verified ` +
        `(signed by the attested receipt key, for this request and this answer)\n`,
    );
    const receiptFile = join(dirname(o.saved), 'receipt.json');
    const answerFile = join(dirname(o.saved), 'answer.json');
    await writeFile(receiptFile, `${JSON.stringify(response.receipt, null, 2)}\n`);
    await writeFile(answerFile, answer);
    aicert(
      ['receipt', 'verify', receiptFile, '--attestation', o.saved, '--certificate', o.cert, '--trust', o.trust].concat([
        '--response',
        answerFile,
      ]),
      o.env,
    );
  } finally {
    forget(stopServer);
    await stopProcess(server);
  }
}

/** Resolves with the URL `aicert serve` prints once it listens; rejects if it exits or takes too long. */
function listeningUrl(server: ChildProcess): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    let stdout = '';
    const timer = setTimeout(
      () => reject(new DemoStopped(`aicert serve did not listen within ${SERVE_START_MS / 1000} s`)),
      SERVE_START_MS,
    );
    server.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /^(https:\/\/\S+) session /m.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolvePromise(m[1]!);
      }
    });
    server.once('exit', (code) => {
      clearTimeout(timer);
      reject(new DemoStopped(`aicert serve exited with status ${code} before it listened`));
    });
  });
}

/** SIGTERM (serve then stops the inference server and removes its NV index), SIGKILL after 10 s. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

try {
  await main();
} catch (err) {
  process.stderr.write(`demo: ${(err as Error).message}; stopping\n`);
  process.exitCode = 1;
}
