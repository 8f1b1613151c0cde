import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { UsageError, VerificationError } from '../errors.js';
import { TRAINER_PROTOCOL } from '../protocol/trainer-commitment.js';
import { encodeTrainerEnvironment, type TrainerVariables } from '../protocol/trainer-environment.js';
import { visibleText } from '../util/visible-text.js';

/**
 * How the audit asks the trainer for something: one call per request, all of it in the
 * protocol's environment variables (docs/trainer-protocol.md), the answer in the file named by
 * AICERT_OUTPUT. The CLI runs the user's TRAIN_COMMAND; a library user (or a test) may run a
 * trainer any other way that honours the same contract.
 */
export type RunTrainer = (variables: TrainerVariables) => Promise<void>;

/**
 * What every call shares: the committed run the trainer is asked about. Not its transcript: each
 * request names the directory it is shown (request-transcripts.ts).
 */
export interface ProtocolRun {
  seed: string;
  checkpointEvery: number;
  holdoutFraction: number;
  dataset: string;
}

export type TrainerRequest =
  | { mode: 'train' }
  | { mode: 'init'; output: string }
  | { mode: 'replay'; segment: number; output: string }
  | { mode: 'loss'; checkpoint: string; records: string; output: string };

/**
 * The variables of one request; `transcript` is the directory this request is shown as
 * AICERT_TRANSCRIPT (in train mode, the transcript to write: `aicert trainer check` runs it too).
 */
export function trainerEnvironment(run: ProtocolRun, transcript: string, request: TrainerRequest): TrainerVariables {
  return encodeTrainerEnvironment({
    protocol: TRAINER_PROTOCOL,
    seed: Buffer.from(run.seed, 'hex'),
    checkpointEvery: run.checkpointEvery,
    holdoutFraction: run.holdoutFraction,
    dataset: run.dataset,
    transcript,
    ...request,
  });
}

const STDERR_TAIL_BYTES = 2000;

/**
 * Runs `command` once per request with the protocol variables added to this process's
 * environment, in this process's working directory. A trainer that exits non-zero, is killed,
 * overruns `timeoutMs` or writes no output (init, replay, loss) has not answered, and the audit
 * fails (VerificationError); a command that cannot be started at all is a usage error.
 */
export function commandTrainer(command: readonly string[], timeoutMs: number): RunTrainer {
  const [program, ...args] = command;
  if (!program)
    throw new UsageError(
      'usage.command',
      'no trainer command given; put it after `--`, e.g. aicert audit … -- node train.js',
    );
  return (variables) =>
    new Promise<void>((resolveCall, reject) => {
      const what = `the trainer (${variables.AICERT_TRAINER_MODE} mode${variables.AICERT_SEGMENT ? `, segment ${variables.AICERT_SEGMENT}` : ''})`;
      const child = spawn(program, args, {
        env: { ...process.env, ...variables },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES);
      });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new UsageError('usage.command', `cannot start the trainer command ${program}: ${err.message}`));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        // The trainer is the prover's program: its output is quoted with every control character
        // escaped, so it cannot send a terminal escape sequence through the audit's report.
        const last = stderr.trim().split('\n').slice(-3).join(' | ');
        const tail = last ? `; its last output: ${visibleText(last)}` : '';
        if (timedOut)
          reject(
            new VerificationError(
              'audit.trainer',
              `${what} did not finish within ${timeoutMs / 1000} s and was stopped${tail}`,
            ),
          );
        else if (code !== 0)
          reject(
            new VerificationError(
              'audit.trainer',
              `${what} ${signal ? `was killed by ${signal}` : `exited with status ${code}`}${tail}`,
            ),
          );
        else if (variables.AICERT_OUTPUT !== undefined && !existsSync(variables.AICERT_OUTPUT))
          reject(new VerificationError('audit.trainer', `${what} exited 0 but wrote nothing to AICERT_OUTPUT`));
        else resolveCall();
      });
    });
}
