import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvironmentError } from '../errors.js';
import { Tpm } from './client.js';
import { parseTpmAddress } from './address.js';
import { SwtpmControl } from './transport/swtpm-control.js';

/**
 * A throw-away software TPM (swtpm) with an EK certificate issued by its own local CA, for
 * tests and for trying aicert without TPM hardware. It proves the plumbing, not the hardware:
 * aicert never trusts it unless told to trust its CA.
 */
export interface Simulator {
  /** TPM address for `Tpm.open` and `--tpm`. */
  address: string;
  /** The directory holding the TPM state, the local CA and the sockets. */
  dir: string;
  pid: number;
  /** The local CA's root certificate file (PEM); the EK certificate chains to it. */
  caRootFile: string;
  /** PEM certificates: [root, intermediate]. */
  caCertificates: string[];
  /** Power cycle through the control channel, then Startup(CLEAR): PCRs reset, resetCount + 1. */
  powerCycle(): Promise<void>;
  /** Whether the swtpm process is still alive. */
  running(): boolean;
  /** Shuts swtpm down and removes its directory. */
  stop(): Promise<void>;
}

export interface SimulatorOptions {
  transport?: 'unix' | 'tcp';
  /** Directory to create the simulator in (must not exist or be empty); default a new temp dir. */
  dir?: string;
  /** Leave swtpm running after this process exits (for `aicert tpm simulator start`). */
  detached?: boolean;
}

const INSTALL_HINT = 'install it with `sudo apt-get install swtpm swtpm-tools` (Debian/Ubuntu)';

function requireTool(name: string): void {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  if (found.status !== 0)
    throw new EnvironmentError('simulator.missing-tool', `${name} is not installed; ${INSTALL_HINT}`);
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  requireTool('swtpm');
  requireTool('swtpm_setup');
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'aicert-swtpm-')));
  try {
    await mkdir(join(dir, 'ca'), { recursive: true });
    await mkdir(join(dir, 'state'), { recursive: true });
    await manufacture(dir);
    const endpoints = await chooseEndpoints(dir, options.transport ?? 'unix');
    const child = launch(dir, endpoints, options.detached ?? false);
    const address = endpoints.address;
    await waitUntilReady(address, child);
    const caRootFile = join(dir, 'ca', 'swtpm-localca-rootca-cert.pem');
    const caCertificates = [
      await readFile(caRootFile, 'utf8'),
      await readFile(join(dir, 'ca', 'issuercert.pem'), 'utf8'),
    ];
    const simulator = handleFor(address, dir, child.pid!, caRootFile, caCertificates);
    await writeFile(
      join(dir, 'simulator.json'),
      JSON.stringify({ address, pid: child.pid, caRootFile }, null, 2) + '\n',
    );
    return simulator;
  } catch (err) {
    if (!options.dir) await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Reattaches to a simulator started earlier (by another process) in `dir`. */
export async function attachSimulator(dir: string): Promise<Simulator> {
  let state: { address: string; pid: number; caRootFile: string };
  try {
    state = JSON.parse(await readFile(join(dir, 'simulator.json'), 'utf8'));
  } catch {
    throw new EnvironmentError('simulator.not-running', `no simulator is running in ${dir}`);
  }
  const caCertificates = [
    await readFile(state.caRootFile, 'utf8'),
    await readFile(join(dir, 'ca', 'issuercert.pem'), 'utf8'),
  ];
  return handleFor(state.address, dir, state.pid, state.caRootFile, caCertificates);
}

/** swtpm_setup with a local CA kept inside `dir`: creates the EK and its certificate. */
async function manufacture(dir: string): Promise<void> {
  const ca = join(dir, 'ca');
  await writeFile(
    join(dir, 'swtpm-localca.conf'),
    `statedir = ${ca}\nsigningkey = ${ca}/signkey.pem\nissuercert = ${ca}/issuercert.pem\ncertserial = ${ca}/certserial\n`,
  );
  await writeFile(
    join(dir, 'swtpm-localca.options'),
    '--platform-manufacturer aicert\n--platform-version 2.1\n--platform-model swtpm\n',
  );
  await writeFile(
    join(dir, 'swtpm_setup.conf'),
    `create_certs_tool = swtpm_localca\ncreate_certs_tool_config = ${dir}/swtpm-localca.conf\ncreate_certs_tool_options = ${dir}/swtpm-localca.options\n`,
  );
  const setup = spawnSync(
    'swtpm_setup',
    [
      '--tpm2',
      '--tpmstate',
      join(dir, 'state'),
      '--create-ek-cert',
      '--config',
      join(dir, 'swtpm_setup.conf'),
      '--pcr-banks',
      'sha256',
      '--overwrite',
    ],
    { encoding: 'utf8' },
  );
  if (setup.status !== 0) {
    throw new EnvironmentError(
      'simulator.setup',
      `swtpm_setup failed: ${(setup.stderr || setup.stdout).trim().split('\n').slice(-3).join(' | ')}`,
    );
  }
}

interface Endpoints {
  address: string;
  server: string;
  ctrl: string;
}

async function chooseEndpoints(dir: string, transport: 'unix' | 'tcp'): Promise<Endpoints> {
  if (transport === 'unix') {
    const path = join(dir, 'tpm.sock');
    return { address: `swtpm:unix:${path}`, server: `type=unixio,path=${path}`, ctrl: `type=unixio,path=${path}.ctrl` };
  }
  const port = await freePortPair();
  return {
    address: `swtpm:tcp://127.0.0.1:${port}`,
    server: `type=tcp,port=${port},bindaddr=127.0.0.1`,
    ctrl: `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
  };
}

function launch(dir: string, e: Endpoints, detached: boolean): ChildProcess {
  const args = [
    'socket',
    '--tpm2',
    '--tpmstate',
    `dir=${join(dir, 'state')}`,
    '--server',
    e.server,
    '--ctrl',
    e.ctrl,
    '--flags',
    'startup-clear',
    '--log',
    `file=${join(dir, 'swtpm.log')}`,
  ];
  const child = spawn('swtpm', args, { detached, stdio: 'ignore' });
  if (detached) child.unref();
  else {
    // A test that crashes must not leave swtpm behind.
    const kill = () => child.kill('SIGKILL');
    process.once('exit', kill);
    child.once('exit', () => process.removeListener('exit', kill));
  }
  return child;
}

async function waitUntilReady(address: string, child: ChildProcess): Promise<void> {
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exited !== undefined)
      throw new EnvironmentError('simulator.start', `swtpm exited at start (status ${exited}); see its log`);
    try {
      const tpm = await Tpm.open(address);
      await tpm.close();
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new EnvironmentError('simulator.start', `swtpm did not answer within 15 s`, { cause: err });
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function handleFor(address: string, dir: string, pid: number, caRootFile: string, caCertificates: string[]): Simulator {
  const parsed = parseTpmAddress(address);
  if (parsed.kind !== 'swtpm') throw new Error('unreachable: simulator address is a swtpm address');
  const control = new SwtpmControl(parsed.control);
  return {
    address,
    dir,
    pid,
    caRootFile,
    caCertificates,
    async powerCycle() {
      const tpm = await Tpm.open(address);
      try {
        await tpm.powerCycle();
      } finally {
        await tpm.close();
      }
    },
    running: () => alive(pid),
    async stop() {
      await control.shutdown().catch(() => undefined);
      await waitForExit(pid);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitForExit(pid: number): Promise<void> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/** Two consecutive free TCP ports on loopback (swtpm's control channel is data port + 1). */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await listenOnce(0);
    if (
      port < 65535 &&
      (await listenOnce(port + 1).then(
        () => true,
        () => false,
      ))
    )
      return port;
  }
  throw new EnvironmentError('simulator.ports', 'could not find two consecutive free TCP ports on 127.0.0.1');
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as { port: number };
      server.close(() => resolve(bound));
    });
  });
}
