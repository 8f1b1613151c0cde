import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { checkTrainer } from '../audit/conformance/check-trainer.js';
import { formatTrainerCheck } from '../audit/conformance/format-trainer-check.js';
import { SAMPLE_RECORDS } from '../audit/conformance/sample-dataset.js';
import { commandTrainer } from '../audit/trainer-invocation.js';
import { holdoutMillionths } from '../trainer/index.js';
import { visibleText } from '../util/visible-text.js';

interface CheckFlags {
  output: string;
  data?: string;
  checkpointEvery: string;
  holdout: string;
  seed?: string;
  timeout: string;
  json?: boolean;
}

export function registerTrainerCommands(program: Command): void {
  const trainer = program.command('trainer').description('tools for writing a protocol trainer');
  trainer
    .command('check')
    .description('run a protocol trainer in every mode on a small dataset and report each deviation from the protocol')
    .argument('<command...>', 'the training command, after --, exactly as you will give it to aicert run and audit')
    .requiredOption(
      '--output <dir>',
      'where the command writes its final model (new or empty; what aicert run --output is)',
    )
    .option('--data <path>', `the record file to train on, or a directory holding one (default: a built-in sample)`)
    .option('--checkpoint-every <k>', 'steps per segment', '5')
    .option('--holdout <fraction>', 'fraction of the records held out', '0.1')
    .option('--seed <hex>', 'the seed s, 64 hex digits (default: 32 fresh random bytes, printed)')
    .option('--timeout <seconds>', 'stop a trainer call that runs longer than this', '600')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
What it does (docs/trainer-protocol.md, "Conformance checklist"), in a scratch directory and
without a TPM, running the command in this directory and environment as aicert run and aicert
audit do: train mode once, with a transcript; the checkpoints (numbered without gaps, F64, F32,
F16 or BF16, the same tensors in each), meta.json and batches.jsonl (exactly the order derived
from the seed, no held-out record trained); the final model in --output (exactly the last
checkpoint's weights); init mode against checkpoint 0; the first and the last segment replayed
twice each (deterministic, and the recorded checkpoint byte for byte, optimizer/ tensors
included); loss mode; and that a request of protocol version 2 is refused. Every deviation is
listed with a stable id (e.g. replay.nondeterministic, init.tensors, final.not-last-checkpoint).

The built-in sample is ${SAMPLE_RECORDS} records in the JSONL format of the example trainers:
{"label":N,"pixels":"<base64 of 784 bytes>"}. A trainer that reads another format needs --data.

Exit status: 0 conformant, 1 deviations found, 2 usage, 3 environment.

Example:
  aicert trainer check --output /tmp/check-model -- \\
      node dist/examples/fashion-mnist/train.js --data examples/fashion-mnist/data --out /tmp/check-model
`,
    )
    .action(async (command: string[], flags: CheckFlags) => {
      const checkpointEvery = whole(flags.checkpointEvery, '--checkpoint-every', 1);
      const holdoutFraction = Number(flags.holdout);
      if (!/^0(\.\d{1,6})?$/.test(flags.holdout))
        throw new UsageError('usage.holdout', `--holdout must be 0 or 0.d with at most 6 digits, got ${flags.holdout}`);
      holdoutMillionths(holdoutFraction);
      if (flags.seed !== undefined && !/^[0-9a-f]{64}$/.test(flags.seed))
        throw new UsageError('usage.seed', '--seed must be 64 lower-case hex digits');
      const report = await checkTrainer({
        runTrainer: commandTrainer(command, 1000 * whole(flags.timeout, '--timeout', 1)),
        command,
        ...(flags.data !== undefined && { data: flags.data }),
        output: flags.output,
        checkpointEvery,
        holdoutFraction,
        seed: flags.seed === undefined ? randomBytes(32) : Buffer.from(flags.seed, 'hex'),
        log: (line) => process.stderr.write(`aicert: ${line}\n`),
      });
      // Details quote the trainer's own error output: control characters are escaped.
      process.stdout.write(
        flags.json ? `${JSON.stringify(report, null, 2)}\n` : visibleText(formatTrainerCheck(report), true),
      );
      process.exitCode = report.exitStatus;
    });
}

function whole(text: string, flag: string, min: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min)
    throw new UsageError('usage.number', `${flag} must be a whole number ≥ ${min}`);
  return n;
}
