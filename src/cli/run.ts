import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { TPM_ADDRESS_HELP, defaultTpmAddress } from '../tpm/address.js';
import { certifiedRun, type TrainerOptions } from '../run/certified-run.js';
import type { IsolationMode, NetworkMode } from '../run/isolation.js';
import { holdoutMillionths } from '../trainer/data-order.js';
import { chooseHoldout, MAX_AUTO_HOLDOUT, MIN_AUTO_HOLDOUT, RECOMMENDED_HELD_OUT } from '../audit/holdout-size.js';
import { loadRunConfig, required, type RunConfig } from '../run/run-config.js';
import { LINUX_BOOT_LOG_PATH } from '../evidence/boot-log/read-boot-log.js';
import {
  DEFAULT_RENDEZVOUS_PORT,
  resolveGroupAddress,
  type GroupAddress,
  type GroupFlags,
} from '../run/group/group-address.js';
import { loadShardPlan } from '../run/group/shard-plan.js';

interface RunFlags extends GroupFlags {
  bootLog?: string;
  config?: string;
  code?: string;
  data?: string[];
  baseModel?: string;
  output?: string;
  out?: string;
  tpm?: string;
  pcr?: string;
  register?: string;
  certifyFailure?: boolean;
  isolation?: string;
  network?: string;
  trainer?: boolean;
  transcript?: string;
  checkpointEvery?: string;
  holdout?: string;
  trainerData?: string;
  challenge?: string;
  shardPlan?: string;
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('run a training command on a TPM and certify which code and data produced its model')
    .argument('[command...]', 'the training command, after --')
    .option('--config <file>', 'aicert.yaml holding any of these options (flags override it)')
    .option('--code <dir>', 'the training code (a git checkout is also named by commit)')
    .option('--data <path>', 'a dataset file or directory (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--base-model <path>', 'the model fine-tuned from, if any')
    .option('--output <dir>', 'where the command writes the model')
    .option('--out <file>', 'certificate path (default: <output>.aicert.json)')
    .option('--tpm <address>', `TPM to use: ${TPM_ADDRESS_HELP}`)
    .option(
      '--register <kind>',
      'where events are measured: nv (default: a fresh NV extend index only this run can write) or pcr23 (PCR 23, or --pcr N: anyone who reaches the TPM can reset it; for TPMs without NV space)',
    )
    .option('--pcr <n>', 'with --register pcr23: the PCR to measure into (resettable 16/23, or a PCR zero since boot)')
    .option('--certify-failure', 'also certify a failed run; such a certificate never verifies as a success')
    .option(
      '--isolation <mode>',
      'confine the command: namespaces (default: no TPM, no aicert state, no network, no capabilities) or none (recorded; a policy can refuse it)',
    )
    .option(
      '--network <mode>',
      "with --isolation namespaces: none (default: no network) or host (keep the host's network, e.g. for DDP between nodes; recorded, a policy can refuse it)",
    )
    .option(
      '--trainer',
      'the command speaks the aicert trainer protocol (docs/trainer-protocol.md): commit its seed, measure its checkpoints live',
    )
    .option('--transcript <dir>', 'trainer transcript directory (default: <output>.transcript)')
    .option('--checkpoint-every <k>', 'trainer checkpoint interval in steps (default 10)')
    .option(
      '--holdout <fraction>',
      `fraction of records the trainer holds out for the memorization test, or auto (default: ${RECOMMENDED_HELD_OUT} records, between ${MIN_AUTO_HOLDOUT} and ${MAX_AUTO_HOLDOUT} of them; fewer records than that warn; 0 holds none out, and the audit then cannot pass)`,
    )
    .option(
      '--trainer-data <file>',
      'the record file the trainer trains on (default: the single --data, if it is a file)',
    )
    .option('--challenge <hex>', "a verifier's 32-byte challenge mixed into the trainer seed instead of TPM randomness")
    .option(
      '--boot-log <file>',
      `the firmware's TCG boot event log to carry in the certificate (default: ${LINUX_BOOT_LOG_PATH}, when present)`,
    )
    .option('--nodes <n>', 'a multi-node run of N nodes, one aicert run per node (docs/distributed.md)')
    .option('--node-rank <i>', "this node's rank, 0 … N-1 (default: RANK, SLURM_PROCID or JOB_COMPLETION_INDEX)")
    .option('--rendezvous <host:port>', 'where rank 0 listens and the other nodes connect (default: MASTER_ADDR)')
    .option(
      '--rendezvous-port <port>',
      `the rendezvous port when --rendezvous names none (default ${DEFAULT_RENDEZVOUS_PORT})`,
    )
    .option(
      '--shard-plan <file>',
      'rank 0: JSON {"shards": [[root, …], …]}, the dataset manifest roots each rank must train on (refused otherwise)',
    )
    .option(
      '--group-timeout <seconds>',
      'bound on joining the group and on every wait outside the command (default 600)',
    )
    .addHelpText(
      'after',
      `
What happens: aicert measures the code, data and base model by content (SHA-256 manifests),
extends each measurement into a fresh NV extend index that only this run can write, takes a TPM
quote of the boot PCRs and an NV certification of the index over the commitment, runs the command
(stdio passed through, signals forwarded), measures the output, and writes a certificate whose
end quote and NV certification sign the exact statement. Exit status: 0 certified, 1 the command failed (no
certificate), 2 bad usage or input, 3 TPM or environment error (nothing written).

Examples:
  aicert run --code . --data data/train.jsonl --output out/model -- node train.js --out out/model
  # node 0 of a 2-node data-parallel run (docs/distributed.md); node 1 the same with rank 1
  aicert run --nodes 2 --node-rank 0 --rendezvous head:29400 --network host --trainer \\
    --code . --data data --trainer-data data/train.jsonl --output out/model \\
    -- torchrun --nnodes 2 --node_rank 0 --master_addr head --master_port 29500 train_ddp.py --out out/model
`,
    )
    .action(async (command: string[], flags: RunFlags) => {
      const config: RunConfig = flags.config ? await loadRunConfig(flags.config) : { version: 1 };
      const log = (line: string) => process.stderr.write(`aicert: ${line}\n`);
      const output = required(flags.output ?? config.output, '--output');
      const pcrText = flags.pcr ?? (config.pcr === undefined ? '23' : String(config.pcr));
      if (!/^\d{1,2}$/.test(pcrText) || Number(pcrText) > 23)
        throw new UsageError('usage.pcr', `--pcr must be a PCR index 0-23, got "${pcrText}"`);
      const register = registerKind(flags.register ?? config.register, flags.pcr ?? config.pcr);
      const result = await certifiedRun({
        code: required(flags.code ?? config.code, '--code'),
        data: flags.data ?? config.data ?? [],
        baseModel: flags.baseModel ?? config.baseModel,
        output,
        certificatePath: flags.out ?? config.certificate ?? `${output.replace(/\/+$/, '')}.aicert.json`,
        tpm: defaultTpmAddress(flags.tpm ?? config.tpm),
        register,
        pcr: Number(pcrText),
        command: command.length > 0 ? command : (config.command ?? []),
        configFile: flags.config,
        certifyFailure: flags.certifyFailure ?? config.certifyFailure ?? false,
        isolation: isolationMode(flags.isolation ?? config.isolation ?? 'namespaces'),
        network: networkMode(flags.network ?? config.network ?? 'none'),
        trainer: flags.trainer || config.trainer ? trainerOptions(flags, config, output) : undefined,
        bootLog: flags.bootLog ?? config.bootLog,
        group: await groupAddress(flags, log),
        log,
      });
      const { outcome } = result;
      const how = outcome.signal ? `was killed by ${outcome.signal}` : `exited with status ${outcome.exitCode}`;
      if (result.certificatePath === undefined && outcome.exitCode === 0 && !outcome.signal) {
        process.stderr.write(
          `aicert: the command ${how}; rank 0 wrote the group's certificate with this node's evidence\n`,
        );
      } else if (result.certificatePath) {
        process.stderr.write(`aicert: the command ${how}; certificate written to ${result.certificatePath}\n`);
        process.exitCode = outcome.exitCode === 0 && !outcome.signal ? 0 : 1;
      } else {
        process.stderr.write(
          `aicert: the command ${how}; no certificate written (use --certify-failure to certify a failed run)\n`,
        );
        process.exitCode = 1;
      }
    });
}

function trainerOptions(flags: RunFlags, config: RunConfig, output: string): TrainerOptions {
  const t = config.trainer ?? {};
  const k = Number(flags.checkpointEvery ?? t.checkpointEvery ?? 10);
  if (!Number.isSafeInteger(k) || k < 1)
    throw new UsageError('usage.checkpoint-every', `--checkpoint-every must be a positive whole number of steps`);
  const text = flags.holdout ?? t.holdout ?? 'auto';
  const holdout = text === 'auto' ? 'auto' : Number(text);
  if (holdout !== 'auto') {
    if (!(holdout >= 0 && holdout < 1))
      throw new UsageError(
        'usage.holdout',
        `--holdout must be auto or a fraction from 0 to below 1, e.g. 0.1, got ${flags.holdout ?? t.holdout}`,
      );
    holdoutMillionths(holdout); // the protocol's own check: below 1, at most 6 decimal places
  }
  const data = flags.data ?? config.data ?? [];
  const dataset = flags.trainerData ?? t.dataset ?? (data.length === 1 ? data[0] : undefined);
  if (!dataset)
    throw new UsageError(
      'usage.trainer-data',
      '--trainer-data FILE is required: the record file the trainer trains on',
    );
  const challengeHex = flags.challenge ?? t.challenge;
  if (challengeHex !== undefined && !/^[0-9a-fA-F]{64}$/.test(challengeHex))
    throw new UsageError('usage.challenge', '--challenge must be 64 hex digits (32 bytes)');
  return {
    transcript: flags.transcript ?? t.transcript ?? `${output.replace(/\/+$/, '')}.transcript`,
    checkpointEvery: k,
    holdoutFraction: holdout === 'auto' ? MIN_AUTO_HOLDOUT : holdout,
    // Sized from the measured record count, before the commitment (audit/holdout-size.ts).
    sizeHoldout: (records) => chooseHoldout(records, holdout),
    dataset,
    ...(challengeHex && { challenge: Buffer.from(challengeHex, 'hex') }),
  };
}

/** `nv` by default; `pcr23` (or `pcr`) for the PCR fallback, which a `--pcr` alone also selects. */
function registerKind(text: string | undefined, pcr: string | number | undefined): 'nv' | 'pcr' {
  if (text === undefined) return pcr === undefined ? 'nv' : 'pcr';
  if (text === 'nv') {
    if (pcr !== undefined)
      throw new UsageError('usage.register', '--pcr applies to --register pcr23 only; an NV register is not a PCR');
    return 'nv';
  }
  if (text === 'pcr23' || text === 'pcr') return 'pcr';
  throw new UsageError('usage.register', `--register must be nv or pcr23, got "${text}"`);
}

/** The node's group, with rank 0's shard plan when given. */
async function groupAddress(flags: RunFlags, log: (line: string) => void): Promise<GroupAddress | undefined> {
  const address = resolveGroupAddress(flags, process.env, log);
  if (flags.shardPlan === undefined) return address;
  if (address?.rank !== 0)
    throw new UsageError('usage.shard-plan', '--shard-plan is for rank 0 of a group run (--nodes N --node-rank 0)');
  return { ...address, shardPlan: await loadShardPlan(flags.shardPlan, address.nodes) };
}

function networkMode(text: string): NetworkMode {
  if (text !== 'none' && text !== 'host')
    throw new UsageError('usage.network', `--network must be none or host, got "${text}"`);
  return text;
}

function isolationMode(text: string): IsolationMode {
  if (text !== 'namespaces' && text !== 'none')
    throw new UsageError('usage.isolation', `--isolation must be namespaces or none, got "${text}"`);
  return text;
}
