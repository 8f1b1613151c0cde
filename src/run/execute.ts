import { spawn } from 'node:child_process';
import { EnvironmentError } from '../errors.js';

export interface CommandOutcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  durationMs: number;
}

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Runs the training command with stdio passed through. Signals sent to aicert are forwarded to
 * it (aicert keeps running to record how it ended); the outcome says how it exited. When `stop`
 * aborts (a group run failed on another node), the command is sent SIGTERM.
 */
export function executeCommand(argv: string[], env: NodeJS.ProcessEnv, stop?: AbortSignal): Promise<CommandOutcome> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', env });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    for (const s of FORWARDED) process.on(s, forward);
    const terminate = () => child.kill('SIGTERM');
    if (stop?.aborted) terminate();
    else stop?.addEventListener('abort', terminate);
    const cleanup = () => {
      for (const s of FORWARDED) process.removeListener(s, forward);
      stop?.removeEventListener('abort', terminate);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      cleanup();
      reject(
        new EnvironmentError(
          'run.spawn',
          `cannot start ${argv[0]}: ${err.code === 'ENOENT' ? 'command not found' : err.message}`,
          { cause: err },
        ),
      );
    });
    child.once('exit', (exitCode, signal) => {
      cleanup();
      resolve({ exitCode, signal, durationMs: Date.now() - started });
    });
  });
}
