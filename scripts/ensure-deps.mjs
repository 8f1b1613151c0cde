// Makes a fresh clone ready to run: npm packages (npm ci) and the Debian tools aicert's
// software TPM and tests use (scripts/debian-packages.txt, the one list). Installs what it can
// (apt-get as root, after apt-get update); otherwise prints the exact command and exits 3.
// Plain JavaScript with no dependencies: it runs before npm ci.
// Usage: node scripts/ensure-deps.mjs [demo|test]   (default test; .ci/run runs it)
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const LIST = fileURLToPath(new URL('./debian-packages.txt', import.meta.url));

/** The list's rows: { pkg, purposes, check }. */
export function debianPackages() {
  const rows = [];
  for (const [i, raw] of readFileSync(LIST, 'utf8').split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+)\s+(\S+)\s+(.+)$/.exec(line);
    if (!m) throw new Error(`${LIST}:${i + 1}: expected "package purposes check"`);
    rows.push({ pkg: m[1], purposes: m[2].split(','), check: m[3] });
  }
  return rows;
}

/** A command name looked up on PATH, or a shell test (anything with a space) that must succeed. */
function has(check) {
  return spawnSync('sh', ['-c', /\s/.test(check) ? check : `command -v ${check}`], { stdio: 'ignore' }).status === 0;
}

function run(command, args) {
  console.error(`$ ${command} ${args.join(' ')}`);
  const r = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return r.status === 0;
}

export function ensureDependencies(purpose) {
  const wanted = debianPackages().filter((row) => row.purposes.includes(purpose));
  if (wanted.length === 0) throw new Error(`no Debian packages are listed for purpose "${purpose}" in ${LIST}`);
  const missing = [...new Set(wanted.filter((row) => !has(row.check)).map((row) => row.pkg))];
  if (missing.length > 0) {
    const isRoot = process.getuid?.() === 0;
    const canApt = isRoot && has('apt-get');
    if (!canApt || !(run('apt-get', ['update', '-qq']) && run('apt-get', ['install', '-y', '-qq', ...missing]))) {
      console.error(
        `\naicert needs these Debian/Ubuntu packages: ${missing.join(' ')}\nInstall them with:\n  sudo apt-get install -y ${missing.join(' ')}\n`,
      );
      process.exit(3);
    }
  }
  if (!existsSync('node_modules/.package-lock.json') && !run('npm', ['ci', '--no-audit', '--no-fund'])) process.exit(3);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const purpose = process.argv[2] ?? 'test';
  if (!['demo', 'test'].includes(purpose)) {
    console.error('usage: node scripts/ensure-deps.mjs [demo|test]');
    process.exit(2);
  }
  ensureDependencies(purpose);
}
