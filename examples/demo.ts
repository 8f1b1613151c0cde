/**
 * The aicert demo (`npm run demo`): a throw-away software TPM and attestation CA, an enrolled
 * attestation key, a certified training run of the Fashion-MNIST example, its verification,
 * and the same verification failing after one byte of the weights is flipped. Every step is
 * the real CLI, printed before it runs, so the demo doubles as a walkthrough.
 */
import { spawnSync } from 'node:child_process';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const CLI = join(ROOT, 'dist/src/cli/main.js');
const TRAINER_SOURCE = join(ROOT, 'examples/fashion-mnist');
const TRAINER = join(ROOT, 'dist/examples/fashion-mnist/train.js');
const DATA = join(ROOT, 'examples/fashion-mnist/data');

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
  if (r.status !== expectStatus) {
    process.stderr.write(`demo: expected exit status ${expectStatus}, got ${r.status}; stopping\n`);
    process.exit(1);
  }
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
  } finally {
    step('6. Stop the software TPM');
    aicert(['tpm', 'simulator', 'stop', '--dir', sim], env);
  }
  process.stdout.write(
    `\n${bold('Done')} in ${((Date.now() - started) / 1000).toFixed(1)} s. Files are in ${dir}:\n` +
      `  model/                      the trained model (model.safetensors, metrics.json)\n` +
      `  model.aicert.json           its certificate\n` +
      `  ca/ca.pem                   the demo attestation CA (trust it with --trust)\n` +
      `  home/ak/                    the enrolled AK certificate\n` +
      `  model-tampered/             the copy with one flipped byte\n` +
      `Verify again with:\n  node ${CLI} verify ${cert} --trust ${join(ca, 'ca.pem')} --model ${model}\n`,
  );
}

await main();
