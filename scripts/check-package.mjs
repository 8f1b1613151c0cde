#!/usr/bin/env node
// Checks the npm package as a user gets it: `npm pack`, `npm install -g` of that tarball into a
// throw-away prefix, then, from a directory outside the repository, `aicert --help`,
// `aicert --version` and `aicert verify` of a certificate. The certificate is made by the
// installed package itself on a software TPM (`aicert tpm simulator start`, `aicert run`);
// without swtpm only verify's refusal of a malformed certificate is checked, and it says so.
// Also checks what the tarball holds: the CLI's runtime files, nothing from dist/test or examples.
// Plain JavaScript with no dependencies. Usage: node scripts/check-package.mjs [--keep]
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
const keep = process.argv.includes('--keep');
const MAX_PACKED_BYTES = 2 * 1024 * 1024;

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
  return ok;
}

function run(command, args, options = {}) {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (r.error) throw r.error;
  return r;
}

function mustRun(command, args, options) {
  const r = run(command, args, options);
  if (r.status !== 0) {
    console.error(`$ ${command} ${args.join(' ')}\nexit ${r.status}\n${r.stdout}${r.stderr}`);
    process.exit(1);
  }
  return r;
}

const tmp = mkdtempSync(join(tmpdir(), 'aicert-package-'));
try {
  // 1. The tarball (prepack builds dist/ first).
  console.log(`packing ${pkg.name}@${pkg.version} into ${tmp}`);
  const packed = JSON.parse(
    mustRun('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] })
      .stdout,
  )[0];
  const tarball = join(tmp, packed.filename);
  const paths = packed.files.map((f) => f.path);
  console.log(
    `${packed.filename}: ${paths.length} files, ${(packed.size / 1024).toFixed(0)} KiB packed, ${(packed.unpackedSize / 1024).toFixed(0)} KiB unpacked`,
  );
  check(paths.includes(pkg.bin.aicert), `the tarball holds the CLI (${pkg.bin.aicert})`);
  check(paths.includes('dist/src/measure/hash-worker.js'), 'the tarball holds the hashing worker');
  const stray = paths.filter(
    (p) =>
      /^(dist\/(test|bench|examples)|test|examples|src|bench|scripts)\//.test(p) ||
      (p.endsWith('.ts') && !p.endsWith('.d.ts')),
  );
  check(
    stray.length === 0,
    `no tests, examples, scripts or TypeScript sources in the tarball${stray.length ? `: ${stray.slice(0, 5).join(', ')}` : ''}`,
  );
  check(packed.size < MAX_PACKED_BYTES, `the tarball is under ${MAX_PACKED_BYTES / 1024 / 1024} MiB`);

  // 2. A global install into a throw-away prefix: only what `dependencies` brings.
  const prefix = join(tmp, 'prefix');
  console.log(`npm install -g --prefix ${prefix} ${packed.filename}`);
  mustRun('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', tarball], {
    cwd: tmp,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const installed = JSON.parse(readFileSync(join(prefix, 'lib/node_modules', pkg.name, 'package.json'), 'utf8'));
  for (const dev of ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', 'typescript', 'fast-check']) {
    check(!(dev in (installed.dependencies ?? {})), `${dev} is not a runtime dependency`);
  }

  // 3. The commands, from outside the repository, with the installed bin first on PATH.
  const work = join(tmp, 'work');
  mkdirSync(work);
  const env = { ...process.env, PATH: `${join(prefix, 'bin')}:${process.env.PATH}`, AICERT_HOME: join(tmp, 'home') };
  delete env.AICERT_TPM;
  const aicert = (...args) => run('aicert', args, { cwd: work, env });
  const which = run('sh', ['-c', 'command -v aicert'], { env }).stdout.trim();
  check(which === join(prefix, 'bin', 'aicert'), `aicert on PATH is the installed one (${which})`);

  const help = aicert('--help');
  check(
    help.status === 0 && /^Usage: aicert /m.test(help.stdout) && /\bverify\b/.test(help.stdout),
    'aicert --help: exit 0, usage listing verify',
  );
  const version = aicert('--version');
  check(
    version.status === 0 && version.stdout.trim() === pkg.version,
    `aicert --version prints ${pkg.version} (got ${JSON.stringify(version.stdout.trim())})`,
  );

  const malformed = join(work, 'malformed.aicert.json');
  writeFileSync(malformed, '{"not": "a certificate"}\n');
  const refused = aicert('verify', malformed, '--allow-untrusted-ak');
  check(
    refused.status === 2 || refused.status === 1,
    `aicert verify refuses a malformed certificate (exit ${refused.status})`,
  );

  if (run('sh', ['-c', 'command -v swtpm && command -v swtpm_setup'], { env }).status !== 0) {
    console.log(
      'skip verify of a real certificate: swtpm/swtpm_setup not installed (node scripts/ensure-deps.mjs demo)',
    );
  } else {
    verifyRealCertificate(aicert, work, env);
  }
} finally {
  if (keep) console.log(`kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}

if (failures > 0) {
  console.error(`check-package: ${failures} check(s) failed`);
  process.exit(1);
}
console.log('check-package: the packed CLI installs and runs');

/** A software TPM, a certified run of a tiny command, then verify (exit 0) and verify of a tampered model (exit 1). */
function verifyRealCertificate(aicert, work, env) {
  const sim = join(work, 'swtpm');
  const started = aicert('tpm', 'simulator', 'start', '--dir', sim);
  const address = /AICERT_TPM='([^']+)'/.exec(started.stdout)?.[1];
  if (!check(started.status === 0 && address !== undefined, `aicert tpm simulator start (exit ${started.status})`)) {
    console.error(started.stdout + started.stderr);
    return;
  }
  env.AICERT_TPM = address;
  try {
    mkdirSync(join(work, 'code'));
    mkdirSync(join(work, 'data'));
    const train = join(work, 'code', 'train.sh');
    writeFileSync(train, '#!/bin/sh\nmkdir -p "$1" && cat "$2"/* > "$1/weights.bin"\n');
    chmodSync(train, 0o755);
    writeFileSync(join(work, 'data', 'records.txt'), 'one\ntwo\nthree\n');
    const model = join(work, 'model');
    const certified = aicert(
      'run',
      '--code',
      'code',
      '--data',
      'data',
      '--output',
      'model',
      '--',
      'sh',
      train,
      model,
      join(work, 'data'),
    );
    if (!check(certified.status === 0, `aicert run certifies a tiny command (exit ${certified.status})`)) {
      console.error(certified.stdout + certified.stderr);
      return;
    }
    const verified = aicert(
      'verify',
      'model.aicert.json',
      '--allow-untrusted-ak',
      '--model',
      'model',
      '--data',
      'data',
      '--code',
      'code',
    );
    console.log(verified.stdout.replace(/^/gm, '     | ').trimEnd());
    if (
      !check(
        verified.status === 0 && /^verdict: VERIFIED$/m.test(verified.stdout),
        `aicert verify of that certificate with --allow-untrusted-ak: exit 0, VERIFIED (got ${verified.status})`,
      )
    ) {
      console.error(verified.stderr);
    }
    writeFileSync(join(model, 'weights.bin'), 'tampered\n');
    const tampered = aicert('verify', 'model.aicert.json', '--allow-untrusted-ak', '--model', 'model');
    check(tampered.status === 1, `aicert verify of a tampered model: exit 1 (got ${tampered.status})`);
  } finally {
    const stopped = aicert('tpm', 'simulator', 'stop', '--dir', sim);
    check(stopped.status === 0, `aicert tpm simulator stop (exit ${stopped.status})`);
  }
}
