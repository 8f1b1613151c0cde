// Makes a fresh clone ready to run: npm packages (npm ci) and the Debian tools aicert's
// software TPM and tests use. Installs what it can (apt-get as root); otherwise prints the
// exact command and exits 3. Plain JavaScript with no dependencies: it runs before npm ci.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const DEBIAN_TOOLS = {
  demo: [['swtpm', 'swtpm'], ['swtpm_setup', 'swtpm-tools']],
  test: [['swtpm', 'swtpm'], ['swtpm_setup', 'swtpm-tools'], ['tpm2_checkquote', 'tpm2-tools'], ['b3sum', 'b3sum'], ['git', 'git'],
    // Debian's torch is for Debian's interpreter, /usr/bin/python3; checked by file (importing it takes seconds).
    ['test -f /usr/lib/python3/dist-packages/torch/__init__.py', 'python3-torch']],
};

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
  const missing = [...new Set(DEBIAN_TOOLS[purpose].filter(([cmd]) => !has(cmd)).map(([, pkg]) => pkg))];
  if (missing.length > 0) {
    const isRoot = process.getuid?.() === 0;
    const canApt = isRoot && has('apt-get');
    if (!canApt || !(run('apt-get', ['update', '-qq']) && run('apt-get', ['install', '-y', '-qq', ...missing]))) {
      console.error(`\naicert needs these Debian/Ubuntu packages: ${missing.join(' ')}\nInstall them with:\n  sudo apt-get install -y ${missing.join(' ')}\n`);
      process.exit(3);
    }
  }
  if (!existsSync('node_modules/.package-lock.json') && !run('npm', ['ci', '--no-audit', '--no-fund'])) process.exit(3);
}
