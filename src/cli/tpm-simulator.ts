import type { Command } from 'commander';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { EnvironmentError } from '../errors.js';
import { aicertHome } from '../util/state-dir.js';
import { attachSimulator, startSimulator } from '../tpm/simulator.js';

function simulatorDir(option?: string): string {
  return option ?? join(aicertHome(), 'simulator');
}

export function addSimulatorCommands(tpm: Command): void {
  const sim = tpm
    .command('simulator')
    .description('run a throw-away software TPM (swtpm) to try aicert without TPM hardware')
    .addHelpText(
      'after',
      '\nA software TPM proves the plumbing, not the hardware: its EK certificate comes from a local CA\n' +
        'created on the spot, so verifiers never trust it unless told to trust that CA.\n' +
        'Needs swtpm and swtpm-tools (Debian/Ubuntu: sudo apt-get install swtpm swtpm-tools).\n',
    );

  sim
    .command('start')
    .description('start swtpm in the background with a fresh EK certificate and local CA')
    .option('--dir <dir>', 'where to keep its state, CA and sockets', undefined)
    .option('--tcp', 'listen on 127.0.0.1 (data port, and control on port+1) instead of a Unix socket')
    .addHelpText(
      'after',
      '\nExample:\n  eval "$(aicert tpm simulator start)"   # sets AICERT_TPM for the commands that follow\n',
    )
    .action(async (options: { dir?: string; tcp?: boolean }) => {
      const dir = simulatorDir(options.dir);
      if (existsSync(join(dir, 'simulator.json'))) {
        const previous = await attachSimulator(dir);
        if (previous.running()) {
          throw new EnvironmentError(
            'simulator.running',
            `a simulator is already running at ${previous.address} (state in ${dir}); stop it first with \`aicert tpm simulator stop\``,
          );
        }
        await previous.stop(); // stale state from a simulator that died: clear it
      }
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const s = await startSimulator({ dir, transport: options.tcp ? 'tcp' : 'unix', detached: true });
      process.stderr.write(
        `software TPM running (pid ${s.pid}); state in ${s.dir}\nits EK certificate chains to the local CA ${s.caRootFile}\n`,
      );
      process.stdout.write(`export AICERT_TPM='${s.address}'\nexport AICERT_SIMULATOR_CA='${s.caRootFile}'\n`);
    });

  sim
    .command('stop')
    .description('stop the software TPM and delete its state')
    .option('--dir <dir>', 'the directory given to start', undefined)
    .action(async (options: { dir?: string }) => {
      const s = await attachSimulator(simulatorDir(options.dir));
      await s.stop();
      process.stderr.write(`software TPM stopped; removed ${s.dir}\n`);
    });

  sim
    .command('status')
    .description('print the address of the running software TPM')
    .option('--dir <dir>', 'the directory given to start', undefined)
    .action(async (options: { dir?: string }) => {
      const s = await attachSimulator(simulatorDir(options.dir));
      process.stdout.write(`${s.address}\n`);
    });
}
